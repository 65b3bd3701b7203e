"""The README's first command: scripts/demo runs the daemon on its built-in lab and cleans up."""

from __future__ import annotations

import subprocess

from tests.lab import ROOT


def test_demo_runs_every_step_and_leaves_nothing_behind() -> None:
    result = subprocess.run([str(ROOT / "scripts" / "demo")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "198.51.100.9" in out                            # the set followed the new address
    assert "hello through netsentinel" in out               # forwarded and echoed
    assert 'netsentinel_forward_bytes_total{service="echo",direction="up"} 26' in out
    assert 'netsentinel_forward_rejected_total{service="echo",reason="blacklist"} 1' in out
    assert "nsdemo" not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True).stdout
    leftovers = subprocess.run(["pgrep", "-f", "etc/demo.yaml"], capture_output=True)
    assert leftovers.returncode == 1, leftovers.stdout      # no daemon left running
