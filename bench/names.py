"""Sets that follow DNS names: 500 names with 30 s TTLs, served by dnsmasq in a namespace.

Measured in the same run against what it replaces: a shell loop run every 30 s, as
cron would (``dig`` per name and family, then one ``nft`` flush-and-fill of a set of
its own).  Both do the same job over the same window: every name's A and AAAA asked
once per 30 s, the set kept equal to the answers.

Prints the daemon's CPU seconds and queries per second over the window, the shell
loop's (its dig and nft children included), and the ratio.
Run as root:  .venv/bin/python bench/names.py [--names 500] [--window 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab import Daemon, Lab, require, wait_for  # noqa: E402

TTL = 30
PORT = 5353
SHELL = r"""
cycles=$1; names=$2
i=0
while [ $i -lt $cycles ]; do
  start=$(date +%s)
  v4=$(for n in $(cat $names); do dig +short +time=2 +tries=1 -p {port} @127.0.0.1 $n A; done | paste -sd, -)
  v6=$(for n in $(cat $names); do dig +short +time=2 +tries=1 -p {port} @127.0.0.1 $n AAAA; done | paste -sd, -)
  nft "flush set inet shell allow; flush set inet shell allow6; add element inet shell allow {{ $v4 }}; add element inet shell allow6 {{ $v6 }}"
  i=$((i + 1))
  [ $i -lt $cycles ] && sleep $(( {ttl} - ($(date +%s) - start) ))
done
times
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shell_cpu(times_output: str) -> float:
    """The sum of the four figures of sh's ``times`` (shell, then children; user, system)."""
    total = 0.0
    for minutes, seconds in re.findall(r"(\d+)m([\d.]+)s", times_output):
        total += int(minutes) * 60 + float(seconds)
    return total


def zone(count: int) -> tuple[str, list[str]]:
    names = [f"n{i:04d}.bench.test" for i in range(count)]
    lines = [f"10.88.{i // 250}.{i % 250 + 1} {n}" for i, n in enumerate(names)]
    lines += [f"2001:db8:88::{i:x} {n}" for i, n in enumerate(names) if i % 2 == 0]
    return "\n".join(lines) + "\n", names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", type=int, default=500)
    parser.add_argument("--window", type=int, default=60)
    args = parser.parse_args()
    require("dnsmasq", "dig", "nft")
    lab = Lab()
    try:
        directory = Path(tempfile.mkdtemp(prefix="ns-bench-names-"))
        ns = lab.netns("bench")
        hosts, names = zone(args.names)
        (directory / "hosts").write_text(hosts)
        (directory / "names").write_text("\n".join(names) + "\n")
        lab.popen(ns, ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                       "--no-hosts", f"--addn-hosts={directory / 'hosts'}", f"--local-ttl={TTL}",
                       "--local=/bench.test/", "--listen-address=127.0.0.1", f"--port={PORT}",
                       "--bind-interfaces", "--pid-file=", "--user=root", "--cache-size=0"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab.nft(ns, "table inet shell {\n set allow { type ipv4_addr; }\n"
                    " set allow6 { type ipv6_addr; }\n}\n")
        listed = "".join(f"\n        - {n}" for n in names)
        daemon = Daemon(lab, ns, directory, (
            f"names:\n  servers: ['127.0.0.1:{PORT}']\n  sets:\n    allow:\n"
            f"      table: inet filter\n"
            f"      names:{listed}\n"))
        daemon.start(wait=False)
        daemon.wait_ready(timeout=60)
        assert daemon.process is not None
        wait_for(lambda: len(lab.nft_set(ns, "inet", "filter", "allow") or ()) == args.names,
                 timeout=60, what="daemon's set filled")
        before_cpu, before_q = cpu_seconds(daemon.process.pid), daemon.status()["names"]["queries"]
        began = time.monotonic()
        cycles = max(1, args.window // TTL)
        shell = lab.popen(ns, ["sh", "-c", SHELL.format(port=PORT, ttl=TTL), "sh", str(cycles),
                               str(directory / "names")], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
        out, _ = shell.communicate(timeout=args.window + 120)
        time.sleep(max(0.0, args.window - (time.monotonic() - began)))
        window = time.monotonic() - began
        after_cpu, after_q = cpu_seconds(daemon.process.pid), daemon.status()["names"]["queries"]
        ours_q = sum(after_q.values()) - sum(before_q.values())
        ours_cpu = after_cpu - before_cpu
        theirs_cpu = shell_cpu(out.decode())
        theirs_q = cycles * (args.names * 2)
        status = daemon.status()["names"]
        result = {
            "names": args.names, "ttl_s": TTL, "window_s": round(window, 1),
            "netsentinel_cpu_s": round(ours_cpu, 3),
            "netsentinel_queries": ours_q,
            "netsentinel_queries_per_s": round(ours_q / window, 1),
            "netsentinel_nft_transactions": status["transactions"],
            "netsentinel_set_elements": len(status["sets"]["allow"]["elements"]),
            "shell_cpu_s": round(theirs_cpu, 3),
            "shell_queries": theirs_q,
            "shell_queries_per_s": round(theirs_q / window, 1),
            "shell_set_elements": len(lab.nft_set(ns, "inet", "shell", "allow") or ()),
            "cpu_ratio_shell_over_netsentinel": round(theirs_cpu / ours_cpu, 1) if ours_cpu else None,
        }
        print(json.dumps(result, indent=2))
    finally:
        lab.close()


if __name__ == "__main__":
    main()
