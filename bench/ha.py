"""A keepalived pair (tests/ha/halab.py): time from cutting the MASTER's uplinks (or
stopping its keepalived) to the client's next successful connection through the VIP,
served by the other router's forwarder.

The peer figure in the same run is keepalived on its own: the time from the same cut to
the VIP moving, which is all a pair without netsentinel would get (and then with no
forwarder following). netsentinel's part is the difference: the track file written
when the uplinks are judged down, and the forwarder started on the new MASTER.

    .venv/bin/python bench/ha.py --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ha.halab import Pair, Router  # noqa: E402
from tests.lab import Lab, wait_for  # noqa: E402


def until(predicate: Callable[[], bool], start: float, timeout: float = 60.0) -> float:
    deadline = start + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError("timed out")


def one_round(pair: Pair, master: Router, other: Router, kind: str) -> tuple[float, float]:
    """(seconds to the VIP moving, seconds to the client served by ``other``)."""
    start = time.monotonic()
    if kind == "uplink":
        master.cut_uplinks()
    else:
        master.stop_keepalived()
    moved = until(lambda: other.has_vip(), start)
    served = until(lambda: pair.ask(timeout=0.3) == f"router-{other.name}", start)
    # put things back: the healed router takes the VIP back (it has the higher priority)
    if kind == "uplink":
        master.heal_uplinks()
    else:
        master.start_keepalived()
    wait_for(lambda: pair.ask() == f"router-{master.name}", 60, interval=0.1,
             what="back on the first router")
    return moved, served


def report(kind: str, rounds: list[tuple[float, float]]) -> None:
    moved = [r[0] for r in rounds]
    served = [r[1] for r in rounds]
    print(f"{kind:9} VIP moved (keepalived):     median {statistics.median(moved):5.2f} s, "
          f"max {max(moved):5.2f} s")
    print(f"{kind:9} client served by the other: median {statistics.median(served):5.2f} s, "
          f"max {max(served):5.2f} s (ratio to the VIP move "
          f"{statistics.median(served) / statistics.median(moved):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory() as directory:
            pair = Pair(lab, Path(directory))
            pair.start()
            wait_for(lambda: pair.ask() == "router-a", 60, interval=0.1, what="a serves")
            for kind in ("uplink", "keepalived"):
                rounds = [one_round(pair, pair.a, pair.b, kind) for _ in range(args.rounds)]
                report(kind, rounds)
    finally:
        lab.close()


if __name__ == "__main__":
    main()
