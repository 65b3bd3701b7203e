"""check-config passing means the daemon starts: the service tree is built at check time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock, StringTransport

from netsentinel.cli.ctl import error_text
from netsentinel.config import MAX_CONFIG_BYTES, load_config, parse_config
from netsentinel.control.server import ControlLines
from netsentinel.schema import ConfigError, listen_endpoint
from netsentinel.service import Daemon
from netsentinel.tree import TreeError, overlap
from tests.lab import Daemon as LabDaemon
from tests.lab import Lab

CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))

# the shape imon-configure writes for one instance: every monitor named after it
IMON_INSTANCE = """\
checks:
  action: /bin/true
  updown:
    site: {target: 192.0.2.1}
  ping:
    site: {target: 192.0.2.2}
  ddns:
    site:
      sources: [https://192.0.2.3/ip]
  failover:
    site:
      primary: {interface: veth-a, gateway: 192.0.2.9}
      standby: {interface: veth-b, gateway: 198.51.100.9}
"""


def test_one_name_in_every_check_kind_builds_one_tree() -> None:
    config = parse_config(IMON_INSTANCE, "imon.yaml")
    daemon = Daemon(config, MemoryReactorClock())
    checks = daemon.features["checks"]
    checks.startService()   # the monitors are built here (real ICMP and netlink sockets)
    try:
        names = [child.name for child in checks]   # type: ignore[attr-defined]
        assert len(names) == 4 and len(set(names)) == 4
    finally:
        checks.stopService()


def test_check_config_reports_a_tree_that_cannot_be_built(tmp_path: Path) -> None:
    path = tmp_path / "imon.yaml"
    path.write_text(IMON_INSTANCE)
    result = subprocess.run([CTL, "check-config", str(path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "OK (checks)" in result.stdout


def test_ctl_prints_one_error_line_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run([CTL, "--socket", str(tmp_path / "none.sock"), "status"],
                            check=False, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_ctl_error_text_is_one_line_without_the_amp_code() -> None:
    assert error_text(Exception("Code<COMMAND_ERROR>: unknown command 'x'")) == "unknown command 'x'"


def test_nan_and_infinity_are_refused_at_check_time() -> None:
    for value in (".nan", ".inf", "-.inf"):
        try:
            parse_config(f"actions:\n  timeout: {value}\n", "n.yaml")
        except ConfigError as e:
            assert "n.yaml:2: actions.timeout" in str(e.problems[0]), e.problems
            assert "finite" in str(e.problems[0])
        else:
            raise AssertionError(f"{value} accepted")


class _Dispatcher:
    bus = None

    def dispatch(self, words: list[str]) -> defer.Deferred[str]:
        return defer.succeed("PONG" if words == ["ping"] else "ERROR: ?")


def test_a_command_ended_by_eof_without_newline_is_answered() -> None:
    # `printf ping | socat - UNIX-CONNECT:...`, as rust-network-mgr's clients send it
    proto = ControlLines(_Dispatcher())
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"ping")
    proto.readConnectionLost()
    assert transport.value() == b"PONG\n"


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize("content, reason", [
    (b"actions:\n  timeout: \xff\n", ":2: <top>: not UTF-8 text"),
    (b"actions:\n  timeout: 5\x01\n", ":2: <top>: not YAML text"),
    (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nest"),
    ("".join("  " * i + "a:\n" for i in range(300)).encode(), ":201: <top>: YAML syntax: nested"),
    (b'a: !!python/object/apply:os.system ["true"]\n', ":1: <top>: bad value"),
    (b"a: 1\nb: !!int xyz\n", ":2: <top>: bad value"),
    (b"a: !!timestamp nope\n", ":1: <top>: bad value"),
    (b"a: " + b"9" * 5001 + b"\n", "bad value: Exceeds the limit"),
    (BOMB.encode(), "a YAML alias bomb"),
])
def test_faults_outside_the_schema_are_one_line_and_exit_2(
        tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = subprocess.run([CTL, "check-config", str(path)], check=False, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and reason in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_bom_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfactions:\n  timeout: 5\n")
    assert load_config(str(path)).actions.timeout == 5.0


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_are_refused_without_blocking(tmp_path: Path, special: str) -> None:
    path = special
    if special == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(path)


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(str(path))


# -- check-config passing means the daemon starts, checked on real processes

def _keys(directory: Path) -> str:
    """An authorized_keys file (ssh-keygen's); the private half is a host key, mode 0600."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "hk")],
                   check=True, capture_output=True)
    (directory / "keys").write_text((directory / "hk.pub").read_text())
    return str(directory / "keys")


def _fixtures(directory: Path) -> dict[str, str]:
    keys = _keys(directory)
    loose = directory / "loose_hk"
    loose.write_bytes((directory / "hk").read_bytes())
    loose.chmod(0o644)
    return {
        # each used to pass check-config, then twistd died binding or loading
        "wildcard and address on one port": (
            "forward:\n  any: {listen: '0.0.0.0:18801', backend: '127.0.0.1:9'}\n"
            "  lo: {listen: '127.0.0.1:18801', backend: '127.0.0.1:9'}\n"),
        "dual-stack wildcard and IPv4": (
            "forward:\n  any: {listen: ':18802', backend: '127.0.0.1:9'}\n"
            "  lo: {listen: '127.0.0.1:18802', backend: '127.0.0.1:9'}\n"),
        "forward on the manhole's port": (
            f"manhole: {{listen: '127.0.0.1:18803', authorized_keys: {keys}, "
            f"host_key: {directory / 'hk'}}}\n"
            "forward:\n  ssh: {listen: '127.0.0.1:18803', backend: '127.0.0.1:9'}\n"),
        "host key readable by others": (
            f"manhole: {{listen: '127.0.0.1:18804', authorized_keys: {keys}, "
            f"host_key: {loose}}}\n"),
        # these start
        "one name in every check kind": IMON_INSTANCE,
        "two ports, two families": (
            "forward:\n  v4: {listen: '0.0.0.0:18805', backend: '127.0.0.1:9'}\n"
            "  v6: {listen: '[::1]:18806', backend: '127.0.0.1:9'}\n"
            f"manhole: {{listen: '127.0.0.1:18807', authorized_keys: {keys}, "
            f"host_key: {directory / 'new' / 'hk'}}}\n"),
    }


def check_config_means_start(lab: Lab, text: str, directory: Path) -> str:
    """check-config on ``text``, then twistd on it in a fresh namespace: an accepted file
    must reach ready, a refused one must stop twistd with the same line (exit 2)."""
    directory.mkdir()
    daemon = LabDaemon(lab, lab.netns(f"t{directory.name}"), directory, text)
    check = subprocess.run([CTL, "check-config", str(daemon.config)], capture_output=True,
                           text=True, timeout=60)
    if check.returncode == 0:
        daemon.start()   # raises unless ready
        daemon.stop()
        return "started"
    assert check.returncode == 2 and check.stderr.count("\n") == 1, check.stderr
    assert check.stderr.startswith(f"{daemon.config}: ") and "Traceback" not in check.stderr
    daemon.start(wait=False)
    assert daemon.process is not None
    assert daemon.process.wait(timeout=60) != 0, daemon.output()
    assert check.stderr.strip() in daemon.output(), daemon.output()
    return "refused"


def test_check_config_accepts_exactly_what_starts(lab: Lab, tmp_path: Path) -> None:
    outcomes = {name: check_config_means_start(lab, text, tmp_path / str(n))
                for n, (name, text) in enumerate(_fixtures(tmp_path).items())}
    assert outcomes == {
        "wildcard and address on one port": "refused",
        "dual-stack wildcard and IPv4": "refused",
        "forward on the manhole's port": "refused",
        "host key readable by others": "refused",
        "one name in every check kind": "started",
        "two ports, two families": "started",
    }


@pytest.mark.parametrize("a, b, clash", [
    ("0.0.0.0:80", "127.0.0.1:80", True),
    ("[::]:80", "127.0.0.1:80", True),
    ("[::]:80", "[::1]:80", True),
    ("0.0.0.0:80", "[::1]:80", False),
    ("127.0.0.1:80", "127.0.0.2:80", False),
    ("127.0.0.1:80", "127.0.0.1:81", False),
])
def test_listen_overlap(a: str, b: str, clash: bool) -> None:
    assert overlap(listen_endpoint(a), listen_endpoint(b)) is clash
    assert overlap(listen_endpoint(b), listen_endpoint(a)) is clash


def test_the_checks_tree_is_built_before_start() -> None:
    daemon = Daemon(parse_config(IMON_INSTANCE, "imon.yaml"), MemoryReactorClock())
    names = {child.name for child in daemon.features["checks"]}   # type: ignore[attr-defined]
    assert names == {"ping site", "updown site", "ddns site", "failover site"}


def test_a_conflict_is_a_tree_error_naming_both_keys() -> None:
    config = parse_config("forward:\n  a: {listen: ':80', backend: '127.0.0.1:9'}\n"
                          "control: {metrics: '127.0.0.1:80'}\n", "x.yaml")
    with pytest.raises(TreeError, match=r"forward.a.listen \[::\]:80 overlaps control.metrics"):
        Daemon(config, MemoryReactorClock())
