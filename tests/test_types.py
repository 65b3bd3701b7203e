"""mypy (with the zope plugin, mypy.ini) over the spine and the address monitor."""

from __future__ import annotations

import subprocess
import sys

from tests.lab import ROOT

CHECKED = ["netsentinel/schema.py", "netsentinel/config.py", "netsentinel/events.py",
           "netsentinel/actions.py", "netsentinel/service.py", "netsentinel/features.py",
           "netsentinel/atomic.py", "netsentinel/debounce.py", "netsentinel/deferreds.py",
           "netsentinel/tap.py", "netsentinel/logs.py", "netsentinel/netlink",
           "netsentinel/nft", "netsentinel/addresses", "netsentinel/control", "netsentinel/cli"]


def test_spine_type_checks() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", *CHECKED], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
