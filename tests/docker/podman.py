"""A private rootful ``podman system service`` run in a lab namespace, as tests/docker/engine.py
runs dockerd.

Each Podman has its own --root, --runroot, --tmpdir, network config dir and socket, so it
never meets the machine's podman; it runs inside the lab's namespace (its bridges live and
die there) and in a private mount namespace.  The image is `podman import` of the static
busybox tarball (no registry).  Containers are driven through the service (`podman --url`),
so every change is one the service itself makes and reports.
"""

from __future__ import annotations

import shutil
import subprocess

from tests.docker.engine import IMAGE, Engine, kill_under
from tests.lab import Lab

PODMAN = "/usr/bin/podman"


def ulimits() -> list[str]:
    """Rootful podman gives a container nofile and nproc of 1048576 unless told otherwise,
    which needs CAP_SYS_RESOURCE (this sandbox has none): runc then fails with "error
    setting rlimit type 7: operation not permitted".  Small fixed limits always fit (runc
    refused even nproc at the current hard limit here, so they are not derived from it)."""
    return ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


class Podman(Engine):
    name = "podman service"
    log_name = "podman.log"

    def __init__(self, lab: Lab, ns: str) -> None:
        super().__init__(lab, ns, "nsp", "podman.sock", [PODMAN, "--url"])

    podman = Engine.cli

    def storage(self) -> list[str]:
        r = self.root
        return [PODMAN, "--root", str(r / "root"), "--runroot", str(r / "run"),
                "--tmpdir", str(r / "tmp"), "--network-config-dir", str(r / "net"),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "vfs"]

    def start(self) -> Podman:
        with open(self.root / self.log_name, "ab") as log:
            # as for dockerd: nsenter joins only the network namespace, unshare gives a
            # private mount namespace, in which a tmpfs on /run/netns (where rootful
            # podman puts its containers' namespaces) keeps them off the machine's;
            # --time=0: the service never exits when idle
            service = [*self.storage(), "system", "service", "--time=0",
                       f"unix://{self.socket}"]
            self._started(subprocess.Popen([
                "nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount", "sh", "-c",
                'mount -t tmpfs tmpfs /run/netns && exec "$@"', "sh", *service],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        return self

    def network(self, name: str, *subnets: str) -> None:
        """No DNS: no aardvark-dns process to outlive the test."""
        ipv6 = ["--ipv6"] if any(":" in s for s in subnets) else []
        self.podman("network", "create", "--disable-dns", *ipv6,
                    *[f"--subnet={s}" for s in subnets], name)

    def run(self, name: str, network: str, *options: str) -> str:
        return self.podman("run", "-d", *ulimits(), "--name", name, "--network", network,
                           *options, IMAGE, "/bin/sleep", "100000")

    def close(self) -> None:
        """Remove every container and network, stop the service, kill what outlived it
        (conmon daemonizes away from the service)."""
        try:
            if self.process is not None and self.process.poll() is None:
                try:
                    self.podman("rm", "-af", "-t", "0")
                    self.podman("network", "prune", "-f")
                except RuntimeError:
                    pass   # e.g. a container from before a service restart: killed below
                finally:
                    self.stop(timeout=30)
        finally:
            kill_under(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
