"""A private dockerd run in a lab namespace, and a busybox image built offline.

Each Dockerd has its own --data-root, --exec-root and socket, so it never meets
the machine's Docker; it runs inside the lab's namespace, so its bridges live
(and die) there.  No registry is reachable: the image is `docker import` of a
tarball holding the static busybox.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from tests.lab import Lab, wait_for

DOCKER = "/usr/bin/docker"     # the docker.io client; another one may come first in PATH
BUSYBOX = "/bin/busybox"       # static, from busybox-static
IMAGE = "nsbox:latest"


def busybox_tarball() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


class Engine:
    """What a private container engine in a lab namespace offers the tests, whichever it is
    (dockerd here, podman's service in tests/docker/podman.py): its socket under a short
    root of its own, its command-line client pointed at that socket, the busybox image."""

    name = "engine"
    log_name = "engine.log"

    def __init__(self, lab: Lab, ns: str, prefix: str, socket_name: str,
                 client: list[str]) -> None:
        self.lab = lab
        self.ns = ns
        # short: a unix socket path has at most 107 bytes
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.socket = str(self.root / socket_name)
        self.client = [*client, f"unix://{self.socket}"]
        self.process: subprocess.Popen[bytes] | None = None
        self.imported = False

    def _started(self, process: subprocess.Popen[bytes]) -> None:
        """Wait until the engine answers, then import the image (once)."""
        self.process = process
        self.lab.processes.append(process)
        wait_for(self._answers, timeout=30, what=f"{self.name} answering")
        if not self.imported:
            self.cli("import", "-", IMAGE, input=busybox_tarball())
            self.imported = True

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.output()}")
        return os.path.exists(self.socket) and subprocess.run(
            [*self.client, "version"], capture_output=True).returncode == 0

    def cli(self, *args: str, input: bytes | None = None) -> str:
        result = subprocess.run([*self.client, *args], capture_output=True, input=input)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(self.client[0]).name} {' '.join(args)}: "
                               f"{result.stderr.decode().strip()}")
        return result.stdout.decode().strip()

    def addresses(self, name: str, network: str) -> dict[str, Any]:
        data = json.loads(self.cli("inspect", name))[0]
        return data["NetworkSettings"]["Networks"][network]  # type: ignore[no-any-return]

    def ip(self, name: str, network: str) -> str:
        return str(self.addresses(name, network)["IPAddress"])

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to the engine (nsenter and unshare exec it: same pid), then wait."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)

    def output(self) -> str:
        return (self.root / self.log_name).read_text(errors="replace")


def kill_under(root: Path) -> None:
    """Kill what names ``root`` on its command line (dockerd's shims, podman's conmon,
    which leave their engine) and the containers under them."""
    table: dict[int, tuple[int, bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    owners = {pid for pid, (_, cmdline) in table.items() if str(root).encode() in cmdline}
    children = {pid for pid, (ppid, _) in table.items() if ppid in owners}
    for pid in [*children, *owners]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Dockerd(Engine):
    name = "dockerd"
    log_name = "dockerd.log"

    def __init__(self, lab: Lab, ns: str, live_restore: bool = False) -> None:
        super().__init__(lab, ns, "nsd", "docker.sock", [DOCKER, "-H"])
        self.options = ["--live-restore"] if live_restore else []

    docker = Engine.cli

    def start(self) -> Dockerd:
        with open(self.root / self.log_name, "ab") as log:
            # nsenter joins only the network namespace (`ip netns exec` would also give it
            # a fresh /sys without the cgroup mounts dockerd needs); unshare gives it a
            # private mount namespace, so its mounts vanish with it and its shims
            self._started(subprocess.Popen([
                "nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount", "dockerd",
                "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--host", f"unix://{self.socket}",
                "--pidfile", str(self.root / "dockerd.pid"), "--storage-driver", "vfs",
                "--iptables=false", "--ip6tables=false", "--bridge=none", *self.options],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        return self

    def network(self, name: str, *subnets: str) -> None:
        ipv6 = ["--ipv6"] if any(":" in s for s in subnets) else []
        self.docker("network", "create", *ipv6, *[f"--subnet={s}" for s in subnets], name)

    def run(self, name: str, network: str, *options: str) -> str:
        return self.docker("run", "-d", "--name", name, "--network", network, *options,
                           IMAGE, "/bin/sleep", "100000")

    def close(self) -> None:
        """Remove every container, stop dockerd (gracefully: it stops its containers and
        its containerd), kill what outlived it (live-restore)."""
        try:
            if self.process is not None and self.process.poll() is None:
                try:
                    running = self.docker("ps", "-aq").split()
                    if running:
                        self.docker("rm", "-f", *running)
                finally:
                    self.stop()
        finally:
            kill_under(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
