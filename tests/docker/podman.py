"""A private rootful ``podman system service`` run in a lab namespace, as tests/docker/engine.py
runs dockerd.

Each Podman has its own --root, --runroot, --tmpdir, network config dir and socket, so it
never meets the machine's podman; it runs inside the lab's namespace (its bridges live and
die there) and in a private mount namespace.  The image is `podman import` of the static
busybox tarball (no registry).  Containers are driven through the service (`podman --url`),
so every change is one the service itself makes and reports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.docker.engine import IMAGE, busybox_tarball
from tests.lab import Lab, wait_for

PODMAN = "/usr/bin/podman"


def ulimits() -> list[str]:
    """Rootful podman gives a container nofile and nproc of 1048576 unless told otherwise,
    which needs CAP_SYS_RESOURCE (this sandbox has none): runc then fails with "error
    setting rlimit type 7: operation not permitted".  Small fixed limits always fit (runc
    refused even nproc at the current hard limit here, so they are not derived from it)."""
    return ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


class Podman:
    def __init__(self, lab: Lab, ns: str) -> None:
        self.lab = lab
        self.ns = ns
        # short: a unix socket path has at most 107 bytes
        self.root = Path(tempfile.mkdtemp(prefix="nsp", dir="/tmp"))
        self.socket = str(self.root / "podman.sock")
        self.process: subprocess.Popen[bytes] | None = None
        self.imported = False

    def storage(self) -> list[str]:
        r = self.root
        return [PODMAN, "--root", str(r / "root"), "--runroot", str(r / "run"),
                "--tmpdir", str(r / "tmp"), "--network-config-dir", str(r / "net"),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "vfs"]

    def start(self) -> Podman:
        with open(self.root / "podman.log", "ab") as log:
            # as for dockerd: nsenter joins only the network namespace, unshare gives a
            # private mount namespace, in which a tmpfs on /run/netns (where rootful
            # podman puts its containers' namespaces) keeps them off the machine's;
            # --time=0: the service never exits when idle
            service = [*self.storage(), "system", "service", "--time=0",
                       f"unix://{self.socket}"]
            self.process = subprocess.Popen([
                "nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount", "sh", "-c",
                'mount -t tmpfs tmpfs /run/netns && exec "$@"', "sh", *service],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.lab.processes.append(self.process)
        wait_for(self._answers, timeout=30, what="podman service answering")
        if not self.imported:
            self.podman("import", "-", IMAGE, input=busybox_tarball())
            self.imported = True
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"podman service exited:\n{self.output()}")
        return os.path.exists(self.socket) and subprocess.run(
            [PODMAN, "--url", f"unix://{self.socket}", "version"],
            capture_output=True).returncode == 0

    def podman(self, *args: str, input: bytes | None = None) -> str:
        result = subprocess.run([PODMAN, "--url", f"unix://{self.socket}", *args],
                                capture_output=True, input=input)
        if result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {result.stderr.decode().strip()}")
        return result.stdout.decode().strip()

    def network(self, name: str, *subnets: str) -> None:
        """No DNS: no aardvark-dns process to outlive the test."""
        ipv6 = ["--ipv6"] if any(":" in s for s in subnets) else []
        self.podman("network", "create", "--disable-dns", *ipv6,
                    *[f"--subnet={s}" for s in subnets], name)

    def run(self, name: str, network: str, *options: str) -> str:
        return self.podman("run", "-d", *ulimits(), "--name", name, "--network", network,
                           *options, IMAGE, "/bin/sleep", "100000")

    def addresses(self, name: str, network: str) -> dict[str, Any]:
        data = json.loads(self.podman("inspect", name))[0]
        return data["NetworkSettings"]["Networks"][network]  # type: ignore[no-any-return]

    def ip(self, name: str, network: str) -> str:
        return str(self.addresses(name, network)["IPAddress"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)   # nsenter, unshare, sh exec
            self.process.wait(timeout=30)

    def close(self) -> None:
        """Remove every container and network, stop the service, kill what outlived it."""
        try:
            if self.process is not None and self.process.poll() is None:
                try:
                    self.podman("rm", "-af", "-t", "0")
                    self.podman("network", "prune", "-f")
                except RuntimeError:
                    pass   # e.g. a container from before a service restart: killed below
                finally:
                    self.stop()
        finally:
            kill_under(self.root)
            shutil.rmtree(self.root, ignore_errors=True)

    def output(self) -> str:
        return (self.root / "podman.log").read_text(errors="replace")


def kill_under(root: Path) -> None:
    """conmon daemonizes away from the service: it (and the container under it) names our
    directories on its command line."""
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
