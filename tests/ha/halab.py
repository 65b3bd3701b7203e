"""Two routers running keepalived and netsentinel on a bridge, a client on the same
bridge, and each router's two uplinks to its own ISP namespace.

::

    client 10.90.0.100 ─┐
    router a 10.90.0.2 ─┼─ bridge (namespace sw)      VIP 10.90.0.1 (keepalived VI_T)
    router b 10.90.0.3 ─┘
    router x ─ 192.168.{5,6}N.2 ── isp x 192.168.{5,6}N.1   (primary and standby uplinks)

Shared by tests/ha/test_keepalived_lab.py and bench/ha.py.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.checks.labkit import drop, heal, peer
from tests.forward.test_daemon import inside
from tests.lab import Daemon, Lab, require, wait_for

VIP, PORT, BACKEND = "10.90.0.1", 8080, 19000
ROUTERS = {"a": ("10.90.0.2", 110, 1), "b": ("10.90.0.3", 100, 2)}   # lan, priority, uplink no.

KEEPALIVED = """
global_defs {{
  router_id {name}
  vrrp_notify_fifo {fifo}
}}
track_file netsentinel {{
  file "{track}"
  weight 1
  init_file 50
}}
vrrp_instance VI_T {{
  state BACKUP
  interface {lan}
  virtual_router_id 77
  priority {priority}
  advert_int 1
  virtual_ipaddress {{
    {vip}/24 dev {lan}
  }}
  track_file {{
    netsentinel weight 1
  }}
}}
"""

CONFIG = """
ha:
  keepalived:
    notify_fifo: {fifo}
    instance: VI_T
    track_file: {track}
  master_only: [forward]
  interval: 0.2
forward:
  web:
    listen: "{vip}:{port}"
    backend: "127.0.0.1:{backend}"
checks:
  failover:
    wan:
      interval: 0.3
      count: 1
      wait: 0.25
      down_after: 2
      up_after: 2
      min_switch_interval: 0
      primary: {{interface: {eth1}, gateway: 192.168.5{n}.1, ping: 192.168.5{n}.1}}
      standby: {{interface: {eth2}, gateway: 192.168.6{n}.1, ping: 192.168.6{n}.1}}
"""


class Router:
    def __init__(self, lab: Lab, directory: Path, name: str, bridge: str) -> None:
        require("keepalived", "socat")
        lan_address, self.priority, n = ROUTERS[name]
        self.lab, self.name, self.directory = lab, name, directory
        directory.mkdir()
        self.ns = lab.netns(name)
        self.lan, port = lab.ifname("lan"), lab.ifname("sw")
        lab.veth(self.ns, self.lan, bridge, port)
        lab.run(bridge, "ip", "link", "set", port, "master", "br0")
        lab.run(self.ns, "ip", "addr", "add", f"{lan_address}/24", "dev", self.lan)
        # the forwarder binds the VIP before keepalived adds it (see docs/ha.md: IP_FREEBIND)
        lab.run(self.ns, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1")
        self.isp, self.eth1 = peer(lab, self.ns, "i" + name, f"192.168.5{n}.2/24",
                                   f"192.168.5{n}.1/24")
        self.eth2, far = lab.ifname("u2"), lab.ifname("u2p")
        lab.veth(self.ns, self.eth2, self.isp, far)
        lab.run(self.ns, "ip", "addr", "add", f"192.168.6{n}.2/24", "dev", self.eth2)
        lab.run(self.isp, "ip", "addr", "add", f"192.168.6{n}.1/24", "dev", far)
        lab.popen(self.ns, ["socat", f"TCP-LISTEN:{BACKEND},bind=127.0.0.1,reuseaddr,fork",
                            f"SYSTEM:echo router-{name}"])
        self.fifo = directory / "notify.fifo"
        self.track = directory / "netsentinel.track"
        self.daemon = Daemon(lab, self.ns, directory, CONFIG.format(
            fifo=self.fifo, track=self.track, vip=VIP, port=PORT, backend=BACKEND,
            eth1=self.eth1, eth2=self.eth2, n=n))
        self.keepalived: subprocess.Popen[bytes] | None = None

    def start_keepalived(self) -> None:
        conf = self.directory / "keepalived.conf"
        conf.write_text(KEEPALIVED.format(name=self.name, fifo=self.fifo, track=self.track,
                                          lan=self.lan, priority=self.priority, vip=VIP))
        d = self.directory
        with open(d / "keepalived.log", "ab") as log:
            self.keepalived = self.lab.popen(self.ns, [
                "keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                f"--use-file={conf}", f"--pid={d / 'k.pid'}", f"--vrrp_pid={d / 'v.pid'}",
                f"--checkers_pid={d / 'c.pid'}"], stdout=log, stderr=subprocess.STDOUT)

    def stop_keepalived(self) -> None:
        assert self.keepalived is not None
        self.keepalived.terminate()      # ip netns exec execs it: the same process
        self.keepalived.wait(timeout=20)

    def cut_uplinks(self) -> None:
        drop(self.lab, self.isp, "ip protocol icmp")

    def heal_uplinks(self) -> None:
        heal(self.lab, self.isp)

    def has_vip(self) -> bool:
        out = self.lab.run(self.ns, "ip", "-4", "-o", "addr", "show", "dev", self.lan).stdout
        return f" {VIP}/" in out.decode()

    def ha(self) -> dict[str, object]:
        return self.daemon.status()["ha"]  # type: ignore[no-any-return]


class Pair:
    def __init__(self, lab: Lab, directory: Path) -> None:
        self.lab = lab
        self.bridge = lab.netns("sw")
        lab.run(self.bridge, "ip", "link", "add", "br0", "type", "bridge")
        lab.run(self.bridge, "ip", "link", "set", "br0", "up")
        self.a = Router(lab, directory / "a", "a", self.bridge)
        self.b = Router(lab, directory / "b", "b", self.bridge)
        self.client = lab.netns("c")
        here, port = lab.ifname("cl"), lab.ifname("sw")
        lab.veth(self.client, here, self.bridge, port)
        lab.run(self.bridge, "ip", "link", "set", port, "master", "br0")
        lab.run(self.client, "ip", "addr", "add", "10.90.0.100/24", "dev", here)

    def start(self) -> None:
        for router in (self.a, self.b):
            router.daemon.start()
        for router in (self.a, self.b):
            router.start_keepalived()

    def master(self) -> Router | None:
        holders = [r for r in (self.a, self.b) if r.has_vip()]
        return holders[0] if len(holders) == 1 else None

    def ask(self, timeout: float = 1.0) -> str | None:
        """Which router's backend answered the client through the VIP (None: no answer)."""
        try:
            with inside(self.client):
                s = socket.create_connection((VIP, PORT), timeout=timeout)
            with s:
                s.settimeout(timeout)
                return s.recv(64).decode().strip() or None
        except OSError:
            return None

    def served_by(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.ask() == f"router-{name}", timeout, interval=0.1,
                 what=f"client served by router {name}")
