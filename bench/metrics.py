"""A /metrics scrape of a busy daemon next to haproxy's Prometheus exporter, same run.

The daemon runs ``--services`` forward services and ``--targets`` ping targets
(1 s interval, as bench/ping.py); haproxy runs the same number of frontend and
backend pairs with its built-in ``prometheus-exporter`` service.  Each is
scraped ``--scrapes`` times over HTTP from inside the namespace; the script
prints the median and worst scrape time, the page size and the number of
series of both, and the time per series.  A scrape runs on the daemon's
reactor, so its duration is also how long the reactor is busy with it.
Run as root:  .venv/bin/python bench/metrics.py [--services 100] [--targets 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.forward.test_daemon import echo_backend, inside  # noqa: E402
from tests.lab import Daemon, Lab, require, samples, wait_for  # noqa: E402

BACKEND = 19000


def daemon_config(services: int, targets: list[str]) -> str:
    lines = ['control: {metrics: "127.0.0.1:9380"}', "forward:"]
    lines += [f'  s{i:03d}: {{listen: "127.0.0.1:{20000 + i}", backend: "127.0.0.1:{BACKEND}"}}'
              for i in range(services)]
    if targets:
        lines += ["checks:", "  ping:"]
        lines += [f"    t{i:04d}: {{target: {a}, interval: 1, count: 1, wait: 1, log: false}}"
                  for i, a in enumerate(targets)]
    return "\n".join(lines) + "\n"


def haproxy_config(services: int) -> str:
    text = ("global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n"
            "  timeout client 60s\n  timeout server 60s\n"
            "frontend prometheus\n  mode http\n  bind 127.0.0.1:8405\n"
            "  http-request use-service prometheus-exporter if { path /metrics }\n")
    for i in range(services):
        text += (f"frontend f{i:03d}\n  bind 127.0.0.1:{30000 + i}\n  default_backend b{i:03d}\n"
                 f"backend b{i:03d}\n  server s 127.0.0.1:{BACKEND}\n")
    return text


def scrape(ns: str, port: int) -> tuple[float, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with inside(ns):
        conn.connect()
    try:
        start = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        return time.perf_counter() - start, body
    finally:
        conn.close()


def measure(ns: str, port: int, count: int) -> dict[str, float]:
    times, body = [], ""
    for _ in range(count):
        elapsed, body = scrape(ns, port)
        times.append(elapsed)
    series = len(samples(body))
    median = statistics.median(times)
    return {"median_ms": round(median * 1000, 2), "max_ms": round(max(times) * 1000, 2),
            "bytes": len(body), "series": series,
            "us_per_series": round(median * 1e6 / series, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    require("haproxy", "socat")
    addresses = [f"10.77.{i // 250}.{i % 250 + 1}" for i in range(args.targets)]
    lab = Lab()
    try:
        router = lab.routed_targets(addresses)
        echo_backend(lab, router, BACKEND)
        with tempfile.TemporaryDirectory() as directory:
            Daemon(lab, router, Path(directory), daemon_config(args.services, addresses)).start()
            haproxy_cfg = Path(directory) / "haproxy.cfg"
            haproxy_cfg.write_text(haproxy_config(args.services))
            lab.popen(router, ["haproxy", "-db", "-f", str(haproxy_cfg)])
            for port in (9380, 8405):
                wait_for(lambda port=port: _answers(router, port), what=f"port {port} answering")
            time.sleep(3)       # a few ping rounds, so every target has figures
            ours = measure(router, 9380, args.scrapes)
            theirs = measure(router, 8405, args.scrapes)
    finally:
        lab.close()
    print(f"{args.services} forward services, {args.targets} ping targets, "
          f"{args.scrapes} scrapes each")
    for name, figures in (("netsentinel", ours), ("haproxy", theirs)):
        print(f"{name:12s} median {figures['median_ms']} ms, max {figures['max_ms']} ms, "
              f"{figures['series']} series, {figures['bytes']} bytes, "
              f"{figures['us_per_series']} us/series")
    print(json.dumps({"netsentinel": ours, "haproxy": theirs}))


def _answers(ns: str, port: int) -> bool:
    try:
        return bool(scrape(ns, port)[1])
    except OSError:
        return False


if __name__ == "__main__":
    main()
