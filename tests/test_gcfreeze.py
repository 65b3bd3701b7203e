"""Start-up's objects are frozen out of the collector's full passes (gcfreeze.py): by
``makeService`` in the daemon, before anything is relayed or asked.  In a child
interpreter: freezing the test process's own objects would keep its cycles for ever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import gc, sys
from netsentinel.tap import Options, makeService
options = Options()
options.parseOptions(["--config", sys.argv[1], "--socket", sys.argv[2]])
before = gc.get_freeze_count()
makeService(options)
print(before, gc.get_freeze_count())
"""


def test_make_service_freezes_what_start_up_built(tmp_path: Path) -> None:
    config = tmp_path / "netsentinel.yaml"
    config.write_text("control: {mode: 0600}\n")
    out = subprocess.run([sys.executable, "-c", CHILD, str(config), str(tmp_path / "s")],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 10_000     # the imports' modules, classes, functions
