"""Sets that heal: how long a managed set stays empty after someone runs ``nft -f``.

Two namespaces, each with a veth holding ``--addresses`` addresses and a ruleset file
that re-declares ``inet filter wan_ips`` empty (what ``systemctl reload nftables``
does).  In one, netsentinel keeps the set (``verify: 3600``: only its nftables monitor
can put it right in time); in the other, the peer: what people run today next to a
tool that cannot heal (systemd-networkd's ``NFTSet=``, a hook script) — a loop that
re-applies the set every second, the tightest a timer does.  Each try loads the ruleset
from a helper inside the namespace (another process, as the admin's ``nft`` is) and
polls the set every 2 ms until it is full again.

Then the daemon's CPU while a foreign table takes ``--rate`` element changes a second
for ``--seconds`` seconds (none of them touches a set of ours).

Run as root:  .venv/bin/python bench/heal.py [--tries 20] [--addresses 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.addresses import proc_stats  # noqa: E402
from tests.lab import Daemon, Lab, wait_for  # noqa: E402

RULESET = """flush ruleset
table inet filter {
  set wan_ips { type ipv4_addr; }
  chain input { type filter hook input priority 0; ip saddr @wan_ips accept; }
}
"""

# inside the namespace: load the ruleset, then time until the set holds `want` elements
TRY = r"""
import json, sys, time, nftables
path, want = sys.argv[1], int(sys.argv[2])
nft = nftables.Nftables()
nft.set_json_output(True)
rc, _, err = nft.cmd(f'include "{path}"')
assert rc == 0, err
began = time.monotonic()
while time.monotonic() - began < 10:
    rc, out, _ = nft.cmd("list set inet filter wan_ips")
    items = json.loads(out)["nftables"] if rc == 0 else []
    got = sum(len(i["set"].get("elem", [])) for i in items if "set" in i)
    if got >= want:
        print(time.monotonic() - began)
        break
    time.sleep(0.002)
else:
    print("inf")
"""

PEER = """while true; do nft -f {elements}; sleep 1; done"""

# inside the namespace: a foreign table changed `rate` times a second
FOREIGN = r"""
import sys, time, nftables
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
nft = nftables.Nftables()
nft.cmd("add table inet foreign")
nft.cmd("add set inet foreign s { type ipv4_addr; }")
began, n = time.monotonic(), 0
while time.monotonic() - began < seconds:
    verb = "add" if n % 2 == 0 else "delete"
    nft.cmd(f"{verb} element inet foreign s {{ 10.9.0.1 }}")
    n += 1
    ahead = began + n / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
print(n)
"""


def address(i: int) -> str:
    return f"10.{i // 62500 + 100}.{i // 250 % 250}.{i % 250 + 1}"


def host(lab: Lab, name: str, count: int) -> tuple[str, str]:
    ns = lab.netns(name)
    wan, other = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, wan, None, other)
    batch = "".join(f"address add {address(i)}/32 dev {wan}\n" for i in range(count))
    lab.run(ns, "ip", "-batch", "-", input=batch.encode())
    return ns, wan


def tries(lab: Lab, ns: str, ruleset: Path, count: int, n: int) -> list[float]:
    times = []
    for _ in range(n):
        out = lab.run(ns, sys.executable, "-c", TRY, str(ruleset), str(count)).stdout
        times.append(float(out.decode()))
        time.sleep(0.2)
    return times


def summary(name: str, times: list[float]) -> str:
    return (f"{name}: median {statistics.median(times) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {len(times)} tries")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--addresses", type=int, default=200)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    lab = Lab()
    directory = Path(tempfile.mkdtemp(prefix="ns-bench-heal-"))
    ruleset = directory / "ruleset.nft"
    ruleset.write_text(RULESET)
    try:
        ns, wan = host(lab, "heal", args.addresses)
        lab.run(ns, "nft", "-f", str(ruleset))
        daemon = Daemon(lab, ns, directory, (
            "addresses:\n  delay: 0.05\n  nftables: {table: inet filter, verify: 3600}\n"
            f"  interfaces:\n    {wan}: {{zone: wan}}\n")).start()
        assert daemon.process is not None
        wait_for(lambda: len(lab.nft_set(ns, "inet", "filter", "wan_ips") or ()) ==
                 args.addresses, 60, what="daemon filled the set")
        ours = tries(lab, ns, ruleset, args.addresses, args.tries)

        peer_ns, _ = host(lab, "peer", args.addresses)
        elements = directory / "peer.nft"
        elements.write_text("flush set inet filter wan_ips\nadd element inet filter wan_ips { "
                            + ", ".join(address(i) for i in range(args.addresses)) + " }\n")
        lab.run(peer_ns, "nft", "-f", str(ruleset))
        lab.popen(peer_ns, ["sh", "-c", PEER.format(elements=elements)],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: len(lab.nft_set(peer_ns, "inet", "filter", "wan_ips") or ()) ==
                 args.addresses, 30, what="peer filled the set")
        theirs = tries(lab, peer_ns, ruleset, args.addresses, args.tries)

        cpu_before, _ = proc_stats(daemon.process.pid)
        began = time.monotonic()
        changes = int(lab.run(ns, sys.executable, "-c", FOREIGN, str(args.rate),
                              str(args.seconds)).stdout)
        elapsed = time.monotonic() - began
        cpu = proc_stats(daemon.process.pid)[0] - cpu_before
        status = daemon.status()
        print(f"{args.addresses} addresses, ruleset reloaded {args.tries} times each")
        print(summary("netsentinel (nftables monitor)", ours))
        print(summary("peer (re-apply every 1 s)", theirs))
        print(f"ratio (median, netsentinel / peer): "
              f"{statistics.median(ours) / statistics.median(theirs):.3f}; "
              f"max: {max(ours) / max(theirs):.3f}")
        print(f"foreign table: {changes} changes in {elapsed:.1f} s "
              f"({changes / elapsed:.0f}/s): daemon CPU {cpu:.2f} s = "
              f"{100 * cpu / elapsed:.2f}% of a core; addresses syncs "
              f"{status['addresses']['syncs']}, outside changes seen "
              f"{status['nftables']['outside_changes']}")
        daemon.stop()
    finally:
        lab.close()


if __name__ == "__main__":
    main()
