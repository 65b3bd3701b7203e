"""Multi-WAN failover: how fast the route moves and the LAN gets through again, and its CPU.

The lab of tests/checks/test_multiwan_lab.py: a router with three ISP namespaces and a
LAN host behind nft masquerade; netsentinel with 3 uplinks in tiers, probes every 1 s
(``count: 1``, ``wait: 0.25``), ``down_after: 3``.  Each cut drops everything the first
ISP receives (an nft rule in its namespace) and times, from the cut, (a) until the
default route is via the second ISP and (b) until a new connection from the LAN host
succeeds (it is answered by the second ISP's server); then the cut is healed and the
route awaited back.  Goal: within ``down_after × interval + 0.3 s``.

Then the daemon's CPU for 8 uplinks × 3 probes (ICMP, TCP connect, ARP) over ``--seconds``.

Then imon's two-uplink case against netsentinel's, like for like (``--imon``): imon V2.99
(its public source, run from a temporary directory outside the project, with a Python
that has its dependencies icmplib and requests: ``--imon-python``) as primary/standby over
the first two ISPs, and netsentinel with the same knobs (two uplinks, probes of the
gateway every 1 s, ``count: 1``, ``wait: 1``, ``down_after: 1``, since imon waits whole
seconds and switches at the first failed round); the same cuts, the ratio of the medians.
imon reads its settings from /etc/default/imon-INSTANCE only: the file is put in
/etc/netns/NAMESPACE/default, which ``ip netns exec`` mounts over /etc/default for imon
alone, and removed afterwards.

Run as root:  .venv/bin/python bench/failover.py [--cuts 20] [--seconds 30]
              [--imon DIR/imon --imon-python VENV/bin/python]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.addresses import proc_stats  # noqa: E402
from tests.checks.labkit import drop, heal, peer  # noqa: E402
from tests.checks.test_multiwan_lab import SERVER, MultiLab  # noqa: E402
from tests.lab import Daemon, Lab, wait_for  # noqa: E402

DOWN_AFTER, INTERVAL = 3, 1.0
WAIT = 0.25
TIMING = f"interval: {INTERVAL}\n      count: 1\n      wait: {WAIT}\n      down_after: {DOWN_AFTER}"


def connects(multi: MultiLab) -> bool:
    result = multi.lab.run(multi.host, "socat", "-T0.3", "-", f"TCP:{SERVER}:80,connect-timeout=0.3",
                           check=False, input=b"")
    return result.stdout.decode().strip() == "isp2"


def cuts(count: int, driver: str = "netsentinel",
         imon: tuple[str, str] | None = None) -> tuple[list[float], list[float]]:
    """Cut isp1 ``count`` times; ``driver``: netsentinel with 3 uplinks (TIMING), or the
    two-uplink case with imon's knobs (``two``) or imon itself (``imon``)."""
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            multi = MultiLab(lab, Path(tmp))
            if driver == "netsentinel":
                multi.start("failover", ["tier: 1", "tier: 2", "tier: 3"], TIMING)
            elif driver == "two":
                multi.start("failover", ["tier: 1", "tier: 2"], IMON_TIMING)
            else:
                assert imon is not None
                start_imon(multi, *imon)
            wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], 30, what="route via isp1")
            route, reach = [], []
            for _ in range(count):
                began = time.monotonic()
                drop(lab, multi.isps[0], "ip protocol { icmp, tcp }")
                wait_for(lambda: multi.hops() == [("192.168.42.1", 1)], 30, 0.01, "isp2")
                route.append(time.monotonic() - began)
                wait_for(lambda: connects(multi), 30, 0.0, "a LAN connection via isp2")
                reach.append(time.monotonic() - began)
                heal(lab, multi.isps[0])
                wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], 30, 0.05, "isp1")
                time.sleep(0.5 + (len(route) % 10) / 10)    # cuts land at all phases of a round
            return route, reach
    finally:
        lab.close()
        for made in Path("/etc/netns").glob(f"nst{lab.tag}*"):    # imon's settings
            shutil.rmtree(made, ignore_errors=True)


IMON_TIMING = "interval: 1\n      count: 1\n      wait: 1\n      down_after: 1"


def start_imon(multi: MultiLab, script: str, python: str) -> None:
    """imon's failover monitor over isp1 (primary) and isp2 (standby), as its docs set it."""
    uplink = {f"{role}-{key}": value for role, n in (("primary", 0), ("standby", 1))
              for key, value in (("if", multi.ifs[n]), ("gw", f"192.168.4{n + 1}.1"),
                                 ("name", f"isp{n + 1}"), ("ping", ""), ("postping", ""))}
    settings = {"global": {"action": "", "datefmt": "%Y-%m-%d %H:%M:%S"},
                "ddns": {"enable": False}, "updown": {"enable": False},
                "ping": {"enable": False},
                "failover": {"enable": True, "interval": INTERVAL, "pingcount": 1,
                             "pingwait": 1, "prefer-primary": True, "metric": 211, **uplink}}
    default = Path("/etc/netns") / multi.router / "default"
    default.mkdir(parents=True)
    (default / "imon-nstbench").write_text(json.dumps(settings))
    multi.lab.popen(multi.router, [python, script, "--instance", "nstbench", "--nosyslog"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu(seconds: float) -> float:
    """Share of one core the daemon uses with 8 uplinks × 3 probes every second."""
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            router = lab.netns("r")
            lines = []
            for n in range(8):
                isp, eth = peer(lab, router, f"c{n}", f"192.168.{50 + n}.2/24",
                                f"192.168.{50 + n}.1/24")
                lab.popen(isp, ["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:true"],
                          stderr=subprocess.DEVNULL)
                lines.append(f"        u{n}: {{interface: {eth}, gateway: 192.168.{50 + n}.1, "
                             f"tier: {1 + n // 2}, probes: [{{icmp: 192.168.{50 + n}.1}}, "
                             f"{{tcp: \"192.168.{50 + n}.1:80\"}}, arp]}}")
            config = ("checks:\n  failover:\n    wan:\n      mode: balance\n      interval: 1\n"
                      "      count: 1\n      wait: 0.25\n      uplinks:\n" + "\n".join(lines) + "\n")
            daemon = Daemon(lab, router, Path(tmp), config).start()
            assert daemon.process is not None
            time.sleep(3)
            before, _ = proc_stats(daemon.process.pid)
            time.sleep(seconds)
            after, _ = proc_stats(daemon.process.pid)
            return (after - before) / seconds
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--imon", help="imon's script (from its public repository, kept "
                        "outside this project)")
    parser.add_argument("--imon-python", default=sys.executable,
                        help="a Python with icmplib and requests, imon's dependencies")
    args = parser.parse_args()
    goal = DOWN_AFTER * INTERVAL + 0.3
    route, reach = cuts(args.cuts)
    print(f"netsentinel, 3 uplinks, {args.cuts} cuts, goal {goal:.1f} s:")
    print(f"  route moved:      median {statistics.median(route):.2f} s, max {max(route):.2f} s")
    print(f"  LAN reaches isp2: median {statistics.median(reach):.2f} s, max {max(reach):.2f} s")
    share = cpu(args.seconds)
    print(f"  CPU, 8 uplinks x 3 probes every 1 s: {share * 100:.2f}% of one core")
    if args.imon is None:
        print("imon: not run (no --imon given: its source is not part of this project); "
              "no ratio")
        return
    two_route, two_reach = cuts(args.cuts, "two")
    imon_route, imon_reach = cuts(args.cuts, "imon", (args.imon, args.imon_python))
    print(f"two uplinks, imon's knobs (interval 1 s, wait 1 s, switch at the first failed "
          f"round), {args.cuts} cuts each:")
    for name, ours, theirs in (("route moved", two_route, imon_route),
                               ("LAN reaches isp2", two_reach, imon_reach)):
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"  {name + ':':<17} netsentinel median {a:.2f} s (max {max(ours):.2f}), "
              f"imon median {b:.2f} s (max {max(theirs):.2f}); imon/netsentinel {b / a:.2f}x")


if __name__ == "__main__":
    main()
