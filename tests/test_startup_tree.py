"""check-config passing means the daemon starts: the service tree is built at check time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock, StringTransport

from netsentinel.cli.ctl import error_text
from netsentinel.config import parse_config
from netsentinel.control.server import ControlLines
from netsentinel.schema import ConfigError
from netsentinel.service import Daemon

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
