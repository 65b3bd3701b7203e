"""The daemon's spine run for real: start-up errors, reload, SIGHUP, control socket, ctl."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import ROOT, TWISTD, Daemon, Lab, wait_for

CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))


def config(ns_iface: str, zone: str = "wan") -> str:
    return (f"addresses:\n  delay: 0.05\n  nftables: {{table: inet filter, create: true}}\n"
            f"  interfaces:\n    {ns_iface}: {{zone: {zone}}}\n")


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[Daemon]:
    ns = lab.netns("d")
    iface, peer = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, iface, None, peer)
    lab.run(ns, "ip", "addr", "add", "10.5.0.1/24", "dev", iface)
    d = Daemon(lab, ns, tmp_path, config(iface))
    d.iface = iface  # type: ignore[attr-defined]
    d.start()
    yield d


def ctl(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CTL, "--socket", daemon.socket, *args], capture_output=True,
                          text=True, timeout=30)


def test_bad_config_stops_startup_with_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("addresses:\n  delay: never\nextra: 1\n")
    result = subprocess.run([TWISTD, "-n", "--pidfile=", "netsentinel", "--config", str(bad),
                             "--socket", str(tmp_path / "s.sock")], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode != 0
    assert f"{bad}:2: addresses.delay: expected a number, got 'never'" in result.stderr
    assert f"{bad}:3: extra: unknown key" in result.stderr
    assert not (tmp_path / "s.sock").exists()


def test_check_config_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("addresses:\n  interfaces:\n    eth0: {zone: 9}\n")
    result = subprocess.run([CTL, "check-config", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "bad.yaml:3: addresses.interfaces.eth0.zone" in result.stderr
    good = subprocess.run([CTL, "check-config", str(ROOT / "etc" / "netsentinel.yaml")],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr


def test_line_commands_for_socat(daemon: Daemon) -> None:
    assert daemon.ctl("ping") == "PONG"
    assert daemon.ctl("frobnicate").startswith("ERROR: unknown command 'frobnicate'")
    assert daemon.ctl("update") == "OK: synced"
    assert "reload" in daemon.ctl("help")


def test_socat_itself_gets_the_reply(daemon: Daemon) -> None:
    result = subprocess.run(["socat", "-", f"UNIX-CONNECT:{daemon.socket}"], input="status\n",
                            capture_output=True, text=True, timeout=30)
    assert json.loads(result.stdout)["ready"] is True


def test_control_socket_is_private(daemon: Daemon) -> None:
    assert Path(daemon.socket).stat().st_mode & 0o777 == 0o600


def test_reload_with_broken_file_keeps_running_config(daemon: Daemon, lab: Lab) -> None:
    daemon.write_config("addresses:\n  delay: [broken\n")
    reply = daemon.ctl("reload")
    assert reply.startswith("ERROR: reload refused, running configuration kept")
    assert "netsentinel.yaml:" in reply
    # the running monitor still works
    lab.run(daemon.ns, "ip", "addr", "add", "10.5.0.2/24", "dev", daemon.iface)  # type: ignore[attr-defined]
    wait_for(lambda: lab.nft_set(daemon.ns, "inet", "filter", "wan_ips") == {"10.5.0.1", "10.5.0.2"},
             what="sets still synced")


def test_sighup_reloads(daemon: Daemon, lab: Lab) -> None:
    daemon.write_config(config(daemon.iface, zone="lan"))  # type: ignore[attr-defined]
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: lab.nft_set(daemon.ns, "inet", "filter", "lan_ips") == {"10.5.0.1"},
             what="zone moved by SIGHUP")


def test_ctl_status_table_and_json(daemon: Daemon) -> None:
    table = ctl(daemon, "status")
    assert table.returncode == 0, table.stderr
    assert "ready" in table.stdout and "wan_ips:" in table.stdout and "10.5.0.1" in table.stdout
    raw = ctl(daemon, "--json", "status")
    assert json.loads(raw.stdout)["addresses"]["sets"]["wan_ips"]["elements"] == ["10.5.0.1"]
    assert ctl(daemon, "ping").stdout.strip() == "PONG"
    assert ctl(daemon, "reload").stdout.startswith("OK: reloaded (no changes)")


def test_ctl_reports_errors_and_unreachable_socket(daemon: Daemon, tmp_path: Path) -> None:
    bad = ctl(daemon, "no", "such", "command")
    assert bad.returncode == 1 and "unknown command" in bad.stderr
    gone = subprocess.run([CTL, "--socket", str(tmp_path / "none.sock"), "status"],
                          capture_output=True, text=True)
    assert gone.returncode == 3 and "cannot reach" in gone.stderr


def test_watch_streams_events(daemon: Daemon, lab: Lab) -> None:
    watcher = subprocess.Popen([CTL, "--socket", daemon.socket, "--json", "watch"],
                               stdout=subprocess.PIPE, text=True)
    assert watcher.stdout is not None
    counter = iter(range(10, 250))

    def event_seen() -> bool:
        # keep changing addresses until the subscription (made asynchronously) reports one
        lab.run(daemon.ns, "ip", "addr", "add", f"10.5.0.{next(counter)}/24", "dev",
                daemon.iface)  # type: ignore[attr-defined]
        assert watcher.stdout is not None
        return bool(select.select([watcher.stdout], [], [], 0.3)[0])
    try:
        wait_for(event_seen, what="an event on watch")
        event = json.loads(watcher.stdout.readline())
        assert event["event"] in ("addresses-changed", "sets-synced")
    finally:
        watcher.kill()
        watcher.wait()




def test_reload_is_parsed_off_the_reactor_thread(daemon: Daemon) -> None:
    """A big file takes a while to read and parse; the daemon answers meanwhile."""
    text = Path(daemon.config).read_text()
    daemon.write_config(text + "extra: [" + ", ".join(str(10_000_000 + i)
                                                      for i in range(190_000)) + "]\n")
    with socket.socket(socket.AF_UNIX) as reloading, socket.socket(socket.AF_UNIX) as pinging:
        reloading.connect(daemon.socket)
        pinging.connect(daemon.socket)
        reloading.sendall(b"reload\n")
        pinging.settimeout(30)
        pinging.sendall(b"ping\n")
        assert pinging.recv(100) == b"PONG\n"
        assert select.select([reloading], [], [], 0)[0] == []   # the reload is still parsing
        reloading.settimeout(60)
        reply = reloading.recv(4096).decode()
    assert reply.startswith("ERROR: reload refused") and "extra: unknown key" in reply
