"""Network labs in namespaces, and the real daemon run inside them.

Every name carries a random tag, so labs never collide with each other or with
the machine; ``Lab.close`` kills what the lab started and deletes its
namespaces (their veths go with them) even when the test failed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
TWISTD = str(Path(sys.executable).with_name("twistd"))


def wait_for(predicate: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Lab:
    """A set of namespaces and veth links that exists for one test."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self._links = 0

    def netns(self, name: str) -> str:
        ns = f"nst{self.tag}{name}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.namespaces.append(ns)
        self.run(ns, "ip", "link", "set", "lo", "up")
        # no duplicate address detection: a link's IPv6 link-local address is final when the
        # link comes up, not a second later as a netlink message in the middle of a test
        self.run(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        return ns

    def ifname(self, hint: str = "v") -> str:
        """A unique interface name that fits the kernel's 15 characters."""
        self._links += 1
        return f"{hint[:4]}{self.tag}{self._links}"[:15]

    def veth(self, ns_a: str, name_a: str, ns_b: str | None, name_b: str) -> None:
        """A veth pair, both ends up; ``ns_b=None`` leaves that end in ``ns_a`` too."""
        self.run(ns_a, "ip", "link", "add", name_a, "type", "veth", "peer", "name", name_b)
        if ns_b is not None and ns_b != ns_a:
            self.run(ns_a, "ip", "link", "set", name_b, "netns", ns_b)
        self.run(ns_a, "ip", "link", "set", name_a, "up")
        self.run(ns_b or ns_a, "ip", "link", "set", name_b, "up")

    def run(self, ns: str, *argv: str, check: bool = True,
            input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                                input=input)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {ns} failed: "
                               f"{result.stderr.decode().strip()}")
        return result

    def popen(self, ns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["ip", "netns", "exec", ns, *argv],
                                   start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def routed_targets(self, addresses: Sequence[str]) -> str:
        """A router namespace whose route to 10.77.0.0/16 leads to a peer holding
        ``addresses`` (benchmarks probe thousands of targets this way); returns the router."""
        router, peer = self.netns("r"), self.netns("p")
        here, there = self.ifname("b"), self.ifname("bp")
        self.veth(router, here, peer, there)
        self.run(router, "ip", "addr", "add", "10.76.0.1/24", "dev", here)
        self.run(peer, "ip", "addr", "add", "10.76.0.2/24", "dev", there)
        self.run(router, "ip", "route", "add", "10.77.0.0/16", "via", "10.76.0.2")
        batch = "".join(f"addr add {a}/32 dev {there}\n" for a in addresses)
        if batch:
            self.run(peer, "ip", "-batch", "-", input=batch.encode())
        return router

    def nft(self, ns: str, script: str) -> None:
        self.run(ns, "nft", "-f", "-", input=script.encode())

    def nft_set(self, ns: str, family: str, table: str, name: str) -> set[str] | None:
        """The elements of an nft set as strings (``10.0.0.0/24`` for prefixes); None if absent."""
        result = self.run(ns, "nft", "-j", "list", "set", family, table, name, check=False)
        if result.returncode != 0:
            return None
        out = result.stdout
        for item in json.loads(out)["nftables"]:
            if "set" in item:
                return {_element_text(e) for e in item["set"].get("elem", [])}
        return set()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=10)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()


def _element_text(element: Any) -> str:
    if isinstance(element, dict) and "prefix" in element:
        return f"{element['prefix']['addr']}/{element['prefix']['len']}"
    if isinstance(element, dict) and "elem" in element:
        return _element_text(element["elem"]["val"])
    return str(element)


def control(path: str, line: str, timeout: float = 10.0) -> str:
    """Send one line on the control socket, as socat does, and return the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode().strip()


def samples(exposition: str) -> dict[str, float]:
    """A Prometheus text page as ``name{labels}`` → value, for asserting on scrapes."""
    found = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


class Daemon:
    """``twistd -n netsentinel`` run in a namespace with its own config and socket."""

    def __init__(self, lab: Lab, ns: str, directory: Path, config_text: str,
                 extra_args: Sequence[str] = (), wrapper: Sequence[str] = ()) -> None:
        self.lab = lab
        self.ns = ns
        self.directory = directory
        self.config = directory / "netsentinel.yaml"
        self.socket = str(directory / "ctl.sock")
        self.log = directory / "daemon.log"
        self.config.write_text(config_text)
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)            # e.g. prlimit --nofile=256:256, which execs
        self.env: dict[str, str] = {}     # added to the daemon's environment (PYTHONPATH too)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Daemon:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        with open(self.log, "ab") as log:
            self.process = self.lab.popen(
                self.ns, [*self.wrapper, TWISTD, "-n", "--pidfile=", "netsentinel", "--config",
                          str(self.config), "--socket", self.socket, *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(self.directory))
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.output()}")
            try:
                status = self.status()
            except (OSError, ValueError):
                return None
            return status if status.get("ready") else None
        return wait_for(ready, timeout, what="daemon ready")

    def ctl(self, line: str) -> str:
        return control(self.socket, line)

    def status(self) -> dict[str, Any]:
        return json.loads(self.ctl("status"))  # type: ignore[no-any-return]

    def write_config(self, text: str) -> None:
        self.config.write_text(text)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            # twistd is the child of `ip netns exec`, which execs it: same pid
            os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def require(*programs: str) -> None:
    """Fail clearly (not skip) when a peer program the test needs is absent."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise AssertionError(f"missing programs (scripts/test installs them): {missing}")
