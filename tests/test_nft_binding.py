"""Without the Python nftables module a feature writing nft sets refuses to start, in one line.

A plain ``pip install .`` has no binding (Debian ships it as python3-nftables); the daemon
used to log "ready" and then a traceback at every sync while ``status`` showed no error.
The stand-in module on PYTHONPATH fails its import as a missing package does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import ROOT, TWISTD

CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))

SETS = "addresses:\n  nftables: {table: inet filter, create: true}\n  interfaces:\n    lo: {zone: lan}\n"
FORWARD = "forward:\n  ssh: {listen: '127.0.0.1:2222', backend: '127.0.0.1:22'}\n"


@pytest.fixture
def without_binding(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "nftables.py").write_text("raise ModuleNotFoundError(\"No module named 'nftables'\")\n")
    return dict(os.environ, PYTHONPATH=f"{fake}{os.pathsep}{ROOT}")


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "netsentinel.yaml"
    path.write_text(text)
    return path


def _assert_one_line_naming_the_package(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert "addresses: uses nftables" in lines[0]
    assert "python3-nftables" in lines[0] and "pip-nftables" in lines[0]
    assert "No module named 'nftables'" in lines[0]


def test_daemon_without_the_binding_stops_at_start_in_one_line(
        tmp_path: Path, without_binding: dict[str, str]) -> None:
    socket = tmp_path / "ctl.sock"
    result = subprocess.run([TWISTD, "-n", "--pidfile=", "netsentinel", "--config",
                             str(_config(tmp_path, SETS)), "--socket", str(socket)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env=without_binding)
    assert result.returncode == 2, result.stdout + result.stderr
    _assert_one_line_naming_the_package(result.stderr)
    assert not socket.exists()


def test_check_config_without_the_binding_fails_as_start_up_would(
        tmp_path: Path, without_binding: dict[str, str]) -> None:
    path = _config(tmp_path, SETS)
    result = subprocess.run([CTL, "check-config", str(path)], capture_output=True, text=True,
                            timeout=60, env=without_binding)
    assert result.returncode == 2, result.stdout + result.stderr
    _assert_one_line_naming_the_package(result.stderr)
    assert result.stderr.startswith(f"{path}: ")


def test_a_feature_without_nft_sets_needs_no_binding(
        tmp_path: Path, without_binding: dict[str, str]) -> None:
    result = subprocess.run([CTL, "check-config", str(_config(tmp_path, FORWARD))],
                            capture_output=True, text=True, timeout=60, env=without_binding)
    assert result.returncode == 0, result.stderr
    assert "OK (forward)" in result.stdout


def test_with_the_binding_check_config_passes(tmp_path: Path) -> None:
    result = subprocess.run([CTL, "check-config", str(_config(tmp_path, SETS))],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
