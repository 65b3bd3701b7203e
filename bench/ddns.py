"""ddns: from an address change on the WAN interface to the provider receiving the update.

The lab: a router namespace whose WAN veth leads to an ISP namespace, which routes to a
provider namespace where the dyndns2 stand-in (tests/checks/provider_standin.py) answers
over HTTPS with a test CA at ``dyn.test``.  Each change adds the next address to the WAN
interface and deletes the old one (one ``ip -batch``, the router's default route stays:
``onlink``), and times until the stand-in logs a request carrying the new address (its
own arrival time, same clock).

netsentinel: one ddns instance with the interface source (netlink; ``debounce`` at its
default 0.2 s; ``interval: 3600`` so no timer helps), ``min_interval: 0`` so 20 changes
fit in half a minute.  ``--changes`` of them, a varied pause after each update.

ddclient (apt's /usr/bin/ddclient) in the same lab with its fastest setting: ``daemon=60``
(its minimum), ``use=if``, dyndns2 over ``ssl=yes`` with the test CA.  It looks at the
interface once a cycle, so a change waits for the next look: the ``--ddclient-changes``
changes land at phases spread evenly over its 60 s cycle (the k-th of n at
60·(k+½)/n s after its previous update), which keeps its updates 60 s apart — more than
dyndns2's 30 s min-interval, so that never delays one.

Run as root:  .venv/bin/python bench/ddns.py [--changes 20] [--ddclient-changes 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.checks.labkit import make_certificates, netns_hosts  # noqa: E402
from tests.lab import Daemon, Lab, wait_for  # noqa: E402

STANDIN = Path(__file__).resolve().parent.parent / "tests" / "checks" / "provider_standin.py"
SECRET, PROVIDER, ISP = "s3cret", "10.0.9.3", "10.0.8.1"
DDCLIENT_CYCLE = 60.0

CONFIG = """
checks:
  ddns:
    wan:
      interval: 3600
      timeout: 5
      accept_private: true
      sources: [{{interface: {wan}}}]
      update:
        protocol: dyndns2
        server: "https://dyn.test/nic/update"
        login: me
        password_file: {dir}/netsentinel.secret
        hostnames: [home.example.org]
        ca: {ca}
        min_interval: 0
"""

DDCLIENT = """daemon={cycle}
foreground=yes
cache={dir}/ddclient.cache
pid={dir}/ddclient.pid
ssl=yes
ssl_ca_file={ca}
use=if, if={wan}
protocol=dyndns2
server=dyn.test
login=me
password='{secret}'
vpn.example.org
"""


class WanLab:
    """router —WAN veth— isp —veth— provider, the stand-in listening in the provider."""

    def __init__(self, lab: Lab, directory: Path) -> None:
        self.lab, self.directory = lab, directory
        self.router, isp, provider = lab.netns("r"), lab.netns("i"), lab.netns("p")
        self.wan, isp_wan = lab.ifname("wan"), lab.ifname("iw")
        lab.veth(self.router, self.wan, isp, isp_wan)
        isp_out, provider_in = lab.ifname("io"), lab.ifname("pi")
        lab.veth(isp, isp_out, provider, provider_in)
        lab.run(isp, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        lab.run(isp, "ip", "addr", "add", f"{ISP}/24", "dev", isp_wan)
        lab.run(isp, "ip", "addr", "add", "10.0.9.1/24", "dev", isp_out)
        lab.run(provider, "ip", "addr", "add", f"{PROVIDER}/24", "dev", provider_in)
        lab.run(provider, "ip", "route", "add", "default", "via", "10.0.9.1")
        self.address = self.next_address()
        lab.run(self.router, "ip", "addr", "add", f"{self.address}/32", "dev", self.wan)
        lab.run(self.router, "ip", "route", "add", "default", "via", ISP, "dev", self.wan,
                "onlink")
        self.ca = make_certificates(directory, ["dyn.test"])
        lab.popen(provider, [sys.executable, str(STANDIN), PROVIDER,
                             str(directory / "dyn.test.crt"), str(directory / "dyn.test.key"),
                             str(directory)])
        wait_for((directory / "ready").exists, what="stand-in listening")

    def next_address(self) -> str:
        self._n = getattr(self, "_n", 9) + 1
        return f"10.0.8.{self._n}"

    def change(self) -> tuple[str, float]:
        """A new WAN address (added before the old one goes: the route stays); returns it
        and the wall-clock time the change began."""
        old, new = self.address, self.next_address()
        batch = f"addr add {new}/32 dev {self.wan}\naddr del {old}/32 dev {self.wan}\n"
        began = time.time()
        self.lab.run(self.router, "ip", "-batch", "-", input=batch.encode())
        self.address = new
        return new, began

    def arrival(self, host: str, address: str) -> float | None:
        """When the stand-in received an update of ``host`` to ``address``, if it has."""
        log = self.directory / "requests.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        for request in map(json.loads, lines):
            query = request["query"]
            if query.get("hostname") == host and query.get("myip") == address:
                return float(request["at"])
        return None

    def time_change(self, host: str, timeout: float, poll: float) -> float:
        new, began = self.change()
        at = wait_for(lambda: self.arrival(host, new), timeout, poll, f"{host} at {new}")
        return at - began


def secret_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def netsentinel(wan: WanLab, changes: int) -> list[float]:
    secret_file(wan.directory / "netsentinel.secret", SECRET + "\n")
    config = CONFIG.format(wan=wan.wan, dir=wan.directory, ca=wan.ca)
    daemon = Daemon(wan.lab, wan.router, wan.directory, config).start()
    wait_for(lambda: wan.arrival("home.example.org", wan.address), 20, what="first update")
    took = []
    for n in range(changes):
        took.append(wan.time_change("home.example.org", 20, 0.005))
        time.sleep(0.3 + (n % 5) / 10)        # the next change lands at another moment
    daemon.stop()
    return took


def ddclient(wan: WanLab, changes: int) -> list[float]:
    conf = secret_file(wan.directory / "ddclient.conf", DDCLIENT.format(
        cycle=int(DDCLIENT_CYCLE), dir=wan.directory, ca=wan.ca, wan=wan.wan, secret=SECRET))
    with open(wan.directory / "ddclient.log", "ab") as log:
        process = wan.lab.popen(wan.router, ["/usr/bin/ddclient", "-file", str(conf),
                                             "-verbose"], stdout=log, stderr=subprocess.STDOUT)
    last = wait_for(lambda: wan.arrival("vpn.example.org", wan.address), 30, 0.1,
                    "ddclient's first update")
    took = []
    for k in range(changes):
        phase = DDCLIENT_CYCLE * (k + 0.5) / changes
        time.sleep(max(0.0, last + phase - time.time()))
        latency = wan.time_change("vpn.example.org", 2 * DDCLIENT_CYCLE + 30, 0.1)
        took.append(latency)
        last = time.time()
        print(f"  ddclient change {k + 1}/{changes}: {latency:.1f} s", flush=True)
    process.terminate()
    return took


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)


def run(args: argparse.Namespace) -> dict[str, Any]:
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wan = WanLab(lab, Path(tmp))
            with netns_hosts(wan.router, f"{PROVIDER} dyn.test\n"):
                ours = netsentinel(wan, args.changes)
                med, top = summary(ours)
                print(f"netsentinel: median {med * 1000:.0f} ms, max {top * 1000:.0f} ms "
                      f"over {len(ours)} changes", flush=True)
                theirs = ddclient(wan, args.ddclient_changes) if args.ddclient_changes else []
            return {"netsentinel": ours, "ddclient": theirs}
    finally:
        lab.close()


def report(result: dict[str, list[float]], line: Callable[[str], None] = print) -> None:
    ours, theirs = result["netsentinel"], result["ddclient"]
    med, top = summary(ours)
    line(f"| | median | max | changes |\n| --- | --- | --- | --- |\n"
         f"| netsentinel, interface source | {med * 1000:.0f} ms | {top * 1000:.0f} ms "
         f"| {len(ours)} |")
    if theirs:
        dmed, dtop = summary(theirs)
        line(f"| ddclient, daemon=60, use=if | {dmed:.1f} s | {dtop:.1f} s | {len(theirs)} |")
        line(f"| ratio (ddclient / netsentinel) | {dmed / med:.0f}× | {dtop / top:.0f}× | |")
    line(f"goal: netsentinel median under 1 s — {'met' if med < 1 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--ddclient-changes", type=int, default=4,
                        help="ddclient needs up to 60 s a change (0: skip it)")
    args = parser.parse_args()
    if args.ddclient_changes and shutil.which("ddclient") is None:
        raise SystemExit("ddclient is not installed (scripts/setup installs it)")
    report(run(args))


if __name__ == "__main__":
    main()
