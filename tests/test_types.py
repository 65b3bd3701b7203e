"""mypy (with the zope plugin, mypy.ini) over the package, the twistd plugin and the tests; ruff (ruff.toml)."""

from __future__ import annotations

import subprocess
import sys

from tests.lab import ROOT

# bench/ is left out of mypy: its scripts are not a package and would clash on module names
CHECKED = ["netsentinel", "twisted/plugins/netsentinel_plugin.py", "tests"]
LINTED = ["netsentinel", "tests", "bench", "twisted"]


def test_package_and_tests_type_check() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", *CHECKED], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *LINTED], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
