"""The manhole in the real daemon, reached with the real OpenSSH client and a unix socket."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Daemon, Lab, control, require, wait_for

CONFIG = """
forward:
  alpha: {{listen: "127.0.0.1:7001", backend: "127.0.0.1:9"}}
  beta: {{listen: "127.0.0.1:7002", backend: "127.0.0.1:9"}}
manhole:
  listen: "{listen}"
  authorized_keys: {dir}/authorized_keys
  host_key: {dir}/state/host_key
  socket: {socket}
"""


class Manhole:
    """A daemon with two forwarders and a manhole, in its own namespace, and ssh keys for it."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        require("ssh", "ssh-keygen")
        self.lab = lab
        self.ns = lab.netns("m")
        self.dir = tmp_path
        self.admin = self.keygen("admin")
        self.authorize(self.admin)
        self.daemon = Daemon(lab, self.ns, tmp_path, self.config())

    def config(self, listen: str = "127.0.0.1:2222", socket: str = "") -> str:
        return CONFIG.format(listen=listen, dir=self.dir,
                             socket=socket or self.dir / "manhole.sock")

    def keygen(self, name: str) -> Path:
        key = self.dir / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
                        "-f", str(key)], check=True)
        return key

    def authorize(self, *keys: Path) -> None:
        text = "".join(key.with_suffix(".pub").read_text() for key in keys)
        (self.dir / "authorized_keys").write_text(text)

    @property
    def host_key(self) -> Path:
        return self.dir / "state" / "host_key"

    def pin_host_key(self) -> None:
        """known_hosts with the daemon's public host key: ssh checks it strictly."""
        public = subprocess.run(["ssh-keygen", "-y", "-f", str(self.host_key)], check=True,
                                capture_output=True, text=True).stdout
        (self.dir / "known_hosts").write_text(f"manhole {public}")

    def ssh(self, key: Path, *command: str, port: int = 2222, host: str = "127.0.0.1",
            tty: bool = False, input: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["ip", "netns", "exec", self.ns, "ssh", "-F", "/dev/null", "-i", str(key),
                "-p", str(port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none", "-o", "HostKeyAlias=manhole",
                "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10", *(["-tt"] if tty else []), f"root@{host}", *command]
        return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)

    def evaluate(self, code: str, key: Path | None = None, port: int = 2222,
                 host: str = "127.0.0.1") -> str:
        """``ssh HOST CODE`` with a pinned host key; the answer, which must not be an error."""
        result = self.ssh(key or self.admin, code, port=port, host=host)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def unix(self, line: str) -> str:
        return control(str(self.dir / "manhole.sock"), line)


@pytest.fixture
def manhole(lab: Lab, tmp_path: Path) -> Iterator[Manhole]:
    m = Manhole(lab, tmp_path)
    m.daemon.start()
    m.pin_host_key()
    yield m


def test_ssh_command_is_evaluated_in_the_daemon(manhole: Manhole) -> None:
    assert manhole.evaluate("sorted(forward.forwarders)") == "['alpha', 'beta']"
    # forward, manhole, the control socket and the history sampler of the status page
    assert manhole.evaluate("len(daemon.services)") == "4"


def test_key_login_logs_no_refusal(manhole: Manhole) -> None:
    """ssh asks whether the key would do before it signs: that question is no refusal."""
    assert manhole.evaluate("1 + 1") == "2"
    wait_for(lambda: "manhole: SSH login as root" in manhole.daemon.output(), what="login log")
    assert "refused" not in manhole.daemon.output()


def test_ssh_command_that_raises_exits_non_zero(manhole: Manhole) -> None:
    result = manhole.ssh(manhole.admin, "features['nonexistent']")
    assert result.returncode == 1
    assert "KeyError: 'nonexistent'" in result.stdout


def test_interactive_prompt_over_a_pty(manhole: Manhole) -> None:
    result = manhole.ssh(manhole.admin, tty=True,
                         input="len(daemon.services) * 1000 + 7\r\x04")   # Ctrl-D leaves
    assert "\n4007\n" in result.stdout, result.stdout + result.stderr   # text mode: \r\n → \n
    assert result.returncode == 0


def test_piped_input_without_a_pty_gets_the_plain_prompt(manhole: Manhole) -> None:
    result = manhole.ssh(manhole.admin, input="x = len(daemon.services)\nx * 1000 + 7\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["4007", ">>>"]


def test_key_not_in_authorized_keys_is_refused(manhole: Manhole) -> None:
    stranger = manhole.keygen("stranger")
    result = manhole.ssh(stranger, "1 + 1")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    assert "2" not in result.stdout
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(stranger)], check=True,
                                 capture_output=True, text=True).stdout.split()[1]
    assert f"manhole: SSH key {fingerprint} refused for root" in manhole.daemon.output()


def test_host_key_is_made_once_private_and_kept(manhole: Manhole) -> None:
    info = os.stat(manhole.host_key)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
    before = manhole.host_key.read_bytes()
    manhole.daemon.stop()
    manhole.daemon.start()
    assert manhole.host_key.read_bytes() == before
    assert manhole.evaluate("2 ** 10") == "1024"     # the pinned key still matches


def test_unix_socket_is_root_only_and_answers(manhole: Manhole) -> None:
    info = os.stat(manhole.dir / "manhole.sock")
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
    reply = manhole.unix("sorted(forward.forwarders)")
    assert "['alpha', 'beta']" in reply.splitlines()[1]
    assert "forward " in manhole.unix("help")


def test_unix_socket_refuses_other_users_even_if_opened(manhole: Manhole) -> None:
    """Someone chmods the socket 0666: the peer's uid (SO_PEERCRED) still keeps nobody out."""
    public = Path(tempfile.mkdtemp(prefix="nstmanhole"))   # /tmp: reachable by nobody
    try:
        public.chmod(0o755)
        sock = public / "m.sock"
        manhole.daemon.write_config(manhole.config(socket=str(sock)))
        assert manhole.daemon.ctl("reload") == "OK: reloaded (changed: manhole)"
        sock.chmod(0o666)
        probe = (f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(sock)!r}); "
                 "print(s.makefile('rb').read())")
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 "/usr/bin/python3", "-c", probe], capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0, result.stderr     # connected: the mode let it in
        assert result.stdout.strip() == "b'manhole: uid 65534 is not allowed\\n'"
    finally:
        shutil.rmtree(public)


def test_reload_moves_the_port_and_swaps_the_keys(manhole: Manhole) -> None:
    second = manhole.keygen("second")
    manhole.authorize(second)
    manhole.daemon.write_config(manhole.config(listen="[::1]:2223"))
    assert manhole.daemon.ctl("reload") == "OK: reloaded (changed: manhole)"
    assert manhole.evaluate("len(features)", key=second, host="::1", port=2223) == "2"
    assert manhole.ssh(manhole.admin, "1", host="::1", port=2223).returncode == 255
    old_port = manhole.ssh(second, "1")
    assert old_port.returncode == 255 and "Connection refused" in old_port.stderr


def test_reload_onto_a_forward_port_is_refused_whole(manhole: Manhole) -> None:
    manhole.daemon.write_config(manhole.config(listen="127.0.0.1:7001"))   # forward alpha's
    reply = manhole.daemon.ctl("reload")
    assert reply.startswith("ERROR: reload refused, running configuration kept: ")
    assert "manhole.listen 127.0.0.1:7001 overlaps forward.alpha.listen" in reply, reply
    status = manhole.daemon.status()["manhole"]
    assert status["ssh"] == "127.0.0.1:2222" and status["error"] is None
    assert manhole.evaluate("6 * 7") == "42"


def test_reload_onto_a_port_another_program_holds_is_refused_whole(manhole: Manhole) -> None:
    squatter = manhole.lab.popen(manhole.ns, ["socat", "TCP-LISTEN:2224,bind=127.0.0.1,fork",
                                              "EXEC:/bin/cat"])
    try:
        wait_for(lambda: b"127.0.0.1:2224" in subprocess.run(
            ["ip", "netns", "exec", manhole.ns, "ss", "-ltn"], capture_output=True).stdout,
            what="socat listening")
        manhole.daemon.write_config(manhole.config(listen="127.0.0.1:2224"))
        reply = manhole.daemon.ctl("reload")
        assert reply.startswith("ERROR: reload refused, running configuration kept: "), reply
        assert "manhole.listen 127.0.0.1:2224: cannot listen: Address already in use" in reply
        status = manhole.daemon.status()["manhole"]
        assert status["ssh"] == "127.0.0.1:2222" and status["error"] is None
        assert manhole.daemon.status()["reloads"]["refused"] == 1
        assert manhole.evaluate("6 * 7") == "42"
    finally:
        squatter.kill()
        squatter.wait()


def test_reload_with_a_public_address_keeps_the_running_manhole(manhole: Manhole) -> None:
    manhole.daemon.write_config(manhole.config(listen="0.0.0.0:2222"))
    reply = manhole.daemon.ctl("reload")
    assert reply.startswith("ERROR: reload refused") and "manhole.listen" in reply
    assert manhole.evaluate("config.features['manhole'].listen.host") == "'127.0.0.1'"


def test_removed_section_closes_port_socket_and_sessions(manhole: Manhole) -> None:
    session = manhole.lab.popen(manhole.ns, ["ssh", "-F", "/dev/null", "-i", str(manhole.admin),
                                             "-p", "2222", "-o", "BatchMode=yes",
                                             "-o", "HostKeyAlias=manhole",
                                             "-o", f"UserKnownHostsFile={manhole.dir}/known_hosts",
                                             "root@127.0.0.1"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    wait_for(lambda: manhole.daemon.status()["manhole"]["sessions"] == 1, what="session open")
    manhole.daemon.write_config(manhole.config().split("manhole:")[0])
    assert manhole.daemon.ctl("reload") == "OK: reloaded (changed: manhole)"
    assert "manhole" not in manhole.daemon.status()
    assert not (manhole.dir / "manhole.sock").exists()
    assert manhole.ssh(manhole.admin, "1").returncode == 255
    assert session.wait(timeout=30) is not None     # the open session was closed too
