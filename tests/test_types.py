"""mypy (with the zope plugin, mypy.ini) over the whole package."""

from __future__ import annotations

import subprocess
import sys

from tests.lab import ROOT

CHECKED = ["netsentinel", "twisted/plugins/netsentinel_plugin.py"]


def test_package_type_checks() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", *CHECKED], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
