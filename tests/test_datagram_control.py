"""IPMon's datagram control socket kept: the daemon run for real, commands sent by real socat.

IPMon's scripts send ``update``/``reload`` with ``socat - UNIX-SENDTO:/run/ipmon.sock``,
whose socket has no address: the command runs, no reply can come.  With ``bind=`` socat
has an address and gets the reply line, after the work is done.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet import defer

from netsentinel.config import parse_config
from netsentinel.control.datagram import ControlDatagrams, DatagramControlService
from netsentinel.features import CommandError
from netsentinel.schema import ConfigError
from tests.lab import Daemon, Lab, require, wait_for


def config(iface: str, datagram: Path) -> str:
    return (f"control:\n  datagram_socket: {datagram}\n"
            f"addresses:\n  delay: 0.05\n  interfaces:\n    {iface}: {{}}\n")


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[Daemon]:
    require("socat")
    ns = lab.netns("dg")
    iface, peer = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, iface, None, peer)
    d = Daemon(lab, ns, tmp_path, config(iface, tmp_path / "ipmon.sock"))
    d.datagram = str(tmp_path / "ipmon.sock")  # type: ignore[attr-defined]
    d.start()
    try:
        yield d
    finally:
        d.stop()


def sendto(path: str, text: str, bind: str | None = None) -> subprocess.CompletedProcess[str]:
    address = f"UNIX-SENDTO:{path}" + (f",bind={bind}" if bind else "")
    try:
        return subprocess.run(["socat", "-t", "3", "-", address], input=text,
                              capture_output=True, text=True, timeout=30)
    finally:
        if bind and os.path.exists(bind):
            os.unlink(bind)


def test_socat_with_bind_gets_the_reply(daemon: Daemon, tmp_path: Path) -> None:
    path, client = daemon.datagram, str(tmp_path / "client.sock")  # type: ignore[attr-defined]
    assert sendto(path, "ping", client).stdout == "PONG\n"
    assert sendto(path, "update\n", client).stdout == "OK: synced\n"


def ask(path: str, text: str, tmp_path: Path) -> str:
    """One datagram from a bound client, its reply (or a timeout error)."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        client.bind(str(tmp_path / "py-client.sock"))
        client.settimeout(10)
        client.sendto(text.encode(), path)
        return client.recv(65536).decode()
    finally:
        client.close()
        os.unlink(tmp_path / "py-client.sock")


def test_every_command_and_its_errors_answer_as_on_the_line_socket(daemon: Daemon,
                                                                   tmp_path: Path) -> None:
    path = daemon.datagram  # type: ignore[attr-defined]
    assert ask(path, "frobnicate", tmp_path).startswith("ERROR: unknown command 'frobnicate'")
    assert ask(path, "watch", tmp_path).startswith("ERROR: watch needs a connection")
    assert ask(path, "help", tmp_path) == daemon.ctl("help") + "\n"


def test_ipmon_scripts_unbound_socat_runs_the_command(daemon: Daemon) -> None:
    """``printf reload | socat - UNIX-SENDTO:/run/ipmon.sock``: no reply, the reload happens."""
    before = daemon.status()["reloads"]["ok"]
    result = sendto(daemon.datagram, "reload")  # type: ignore[attr-defined]
    assert (result.returncode, result.stdout) == (0, "")
    wait_for(lambda: daemon.status()["reloads"]["ok"] == before + 1, what="reload counted")


def test_the_datagram_socket_is_private_and_removed_at_stop(daemon: Daemon) -> None:
    path = Path(daemon.datagram)  # type: ignore[attr-defined]
    assert path.stat().st_mode & 0o777 == 0o600
    daemon.stop()
    assert "Server Shut Down" in daemon.output() and not path.exists()


def test_a_live_ipmon_on_the_path_stops_startup(tmp_path: Path) -> None:
    path = str(tmp_path / "ipmon.sock")
    ipmon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ipmon.bind(path)
    try:
        with pytest.raises(RuntimeError, match="another process is receiving on"):
            DatagramControlService(None, path, 0o600, Binder()).startService()
    finally:
        ipmon.close()
    binder = Binder()
    DatagramControlService(None, path, 0o600, binder).startService()
    assert binder.bound == [path] and not os.path.exists(path)     # stale: removed first


class Binder:
    """A reactor that records where it would listen."""

    def __init__(self) -> None:
        self.bound: list[str] = []

    def listenUNIXDatagram(self, path: str, *args: object, **kwargs: object) -> None:
        self.bound.append(path)


class Dispatcher:
    def __init__(self) -> None:
        self.pending: defer.Deferred[str] = defer.Deferred()

    def dispatch(self, words: list[str]) -> defer.Deferred[str]:
        if words == ["bad"]:
            return defer.fail(CommandError("no such thing"))
        return self.pending


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str]] = []

    def write(self, data: bytes, addr: str) -> None:
        self.sent.append((data, addr))


def test_the_reply_goes_out_after_the_work_and_only_to_a_named_sender() -> None:
    daemon, transport = Dispatcher(), Recorder()
    proto = ControlDatagrams(daemon)
    proto.transport = transport  # type: ignore[assignment]
    proto.datagramReceived(b"update\n", "/tmp/client")
    assert transport.sent == []                      # not before the work is done
    daemon.pending.callback("OK: synced")
    assert transport.sent == [(b"OK: synced\n", "/tmp/client")]
    proto.datagramReceived(b"bad", None)             # unnamed sender: nothing to send to
    proto.datagramReceived(b"bad", "/tmp/client")
    assert transport.sent[1:] == [(b"ERROR: no such thing\n", "/tmp/client")]


def test_datagram_socket_must_differ_from_the_control_socket() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("control:\n  socket: /run/x.sock\n  datagram_socket: /run/x.sock\n", "c.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "c.yaml:3: control.datagram_socket: must differ from control.socket (a stream socket)"]
    assert parse_config("control:\n  datagram_socket: /run/ipmon.sock\n",
                        "c.yaml").control.datagram_socket == "/run/ipmon.sock"
