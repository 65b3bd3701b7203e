"""``control.priority``: every thread of the process takes the nice value, a reload can
take it back, and a script the daemon starts runs at the daemon's starting value.  Run
in a child interpreter: the test process's own nice value stays untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, os, subprocess, threading, time
from netsentinel.priority import Priority

def nices():
    return sorted({os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")})

stop = threading.Event()
thread = threading.Thread(target=stop.wait)      # started before: it must follow too
thread.start()
priority = Priority()
seen = {"initial": priority.initial}
priority.apply(-3)
seen["applied"] = nices()
seen["status"] = [priority.status().wanted, priority.status().nice, priority.status().error]
script = subprocess.Popen(["sleep", "5"])
priority.started(script.pid)
seen["script"] = os.getpriority(os.PRIO_PROCESS, script.pid)
script.kill()
priority.apply(None)
seen["undone"] = nices()
seen["status_after"] = priority.status()
stop.set()
print(json.dumps(seen))
"""


def run_child(*prefix: str) -> dict[str, object]:
    out = subprocess.run([*prefix, sys.executable, "-c", CHILD], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_every_thread_takes_the_value_and_scripts_keep_the_starting_one() -> None:
    seen = run_child("nice", "-n", "2")
    assert seen == {"initial": 2, "applied": [-3], "status": [-3, -3, None], "script": 2,
                    "undone": [2], "status_after": None}


def test_a_value_the_process_may_not_take_is_reported_not_raised() -> None:
    seen = run_child("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    assert seen["applied"] == [0] and seen["status"][:2] == [-3, 0]   # type: ignore[index]
    assert "cannot set nice -3" in str(seen["status"][2])           # type: ignore[index]
