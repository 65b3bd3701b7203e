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


class Dockerd:
    def __init__(self, lab: Lab, ns: str, live_restore: bool = False) -> None:
        self.lab = lab
        self.options = ["--live-restore"] if live_restore else []
        self.ns = ns
        # short: a unix socket path has at most 107 bytes
        self.root = Path(tempfile.mkdtemp(prefix="nsd", dir="/tmp"))
        self.socket = str(self.root / "docker.sock")
        self.process: subprocess.Popen[bytes] | None = None
        self.imported = False

    def start(self) -> Dockerd:
        with open(self.root / "dockerd.log", "ab") as log:
            # nsenter joins only the network namespace (`ip netns exec` would also give it
            # a fresh /sys without the cgroup mounts dockerd needs); unshare gives it a
            # private mount namespace, so its mounts vanish with it and its shims
            self.process = subprocess.Popen([
                "nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount", "dockerd", "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--host", f"unix://{self.socket}",
                "--pidfile", str(self.root / "dockerd.pid"), "--storage-driver", "vfs",
                "--iptables=false", "--ip6tables=false", "--bridge=none", *self.options],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.lab.processes.append(self.process)
        wait_for(self._answers, timeout=30, what="dockerd answering")
        if not self.imported:
            self.docker("import", "-", IMAGE, input=busybox_tarball())
            self.imported = True
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"dockerd exited:\n{self.output()}")
        return os.path.exists(self.socket) and subprocess.run(
            [DOCKER, "-H", f"unix://{self.socket}", "version"], capture_output=True).returncode == 0

    def docker(self, *args: str, input: bytes | None = None) -> str:
        result = subprocess.run([DOCKER, "-H", f"unix://{self.socket}", *args],
                                capture_output=True, input=input)
        if result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.decode().strip()}")
        return result.stdout.decode().strip()

    def network(self, name: str, *subnets: str) -> None:
        ipv6 = ["--ipv6"] if any(":" in s for s in subnets) else []
        self.docker("network", "create", *ipv6, *[f"--subnet={s}" for s in subnets], name)

    def run(self, name: str, network: str, *options: str) -> str:
        return self.docker("run", "-d", "--name", name, "--network", network, *options,
                           IMAGE, "/bin/sleep", "100000")

    def addresses(self, name: str, network: str) -> dict[str, Any]:
        data = json.loads(self.docker("inspect", name))[0]
        return data["NetworkSettings"]["Networks"][network]  # type: ignore[no-any-return]

    def ip(self, name: str, network: str) -> str:
        return str(self.addresses(name, network)["IPAddress"])

    def stop(self) -> None:
        """Graceful: dockerd stops its containers and its containerd."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)   # nsenter execs dockerd: same pid
            self.process.wait(timeout=60)

    def close(self) -> None:
        """Remove every container, stop dockerd, kill what outlived it (live-restore)."""
        try:
            if self.process is not None and self.process.poll() is None:
                try:
                    running = self.docker("ps", "-aq").split()
                    if running:
                        self.docker("rm", "-f", *running)
                finally:
                    self.stop()
        finally:
            self._kill_shims()
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_shims(self) -> None:
        """Shims (and the containers under them) name our exec root on their command line."""
        table: dict[int, tuple[int, bytes]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
        shims = {pid for pid, (_, cmdline) in table.items()
                 if str(self.root).encode() in cmdline}
        children = {pid for pid, (ppid, _) in table.items() if ppid in shims}
        for pid in [*children, *shims]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def output(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")
