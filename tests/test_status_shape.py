"""The JSON that ``status``, ``netsentinel-ctl status --json`` and ``/status.json`` print
keeps its shape: every key, and the type of every value, of a full daemon's reply
(addresses with nft sets, a forward service with a client, a ping check, metrics and the
status page) are compared with tests/fixtures/status_shape.json, so socat and script
consumers are safe while the code behind ``status`` is rebuilt.

A deliberate change of shape regenerates the fixture:
``NETSENTINEL_WRITE_SHAPE=1 .venv/bin/python -m pytest tests/test_status_shape.py``
(and is then a change users must read about).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.forward.test_daemon import dial, echo
from tests.lab import Lab, wait_for
from tests.test_metrics_daemon import FRONT, Router

GOLDEN = Path(__file__).parent / "fixtures" / "status_shape.json"
CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))


def shape(value: Any, names: dict[str, str]) -> Any:
    """Keys kept (names that vary per run replaced), values reduced to their JSON type."""
    if isinstance(value, dict):
        return {names.get(k, k): shape(v, names) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0], names)] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"


def test_status_json_keeps_its_shape(lab: Lab, tmp_path: Path) -> None:
    r = Router(lab, tmp_path)
    r.daemon.write_config(r.config("127.0.0.1:9380", status_page=True, ping_interval=60))
    r.daemon.start()
    wait_for(lambda: r.daemon.status()["checks"]["ping"]["self"]["last"], what="first ping")
    kept = dial(r.ns, FRONT)
    assert echo(kept, b"x" * 100) == b"x" * 100
    r.refuse_a_blacklisted_client()
    names = {r.wan: "<wan>"}
    line = shape(json.loads(r.daemon.ctl("status")), names)
    ctl = subprocess.run(["ip", "netns", "exec", r.ns, CTL, "--socket", r.daemon.socket,
                          "status", "--json"], capture_output=True, text=True, timeout=30)
    assert ctl.returncode == 0, ctl.stderr
    status, content_type, body = r.http("/status.json")
    assert status == 200 and content_type.startswith("application/json")
    assert shape(json.loads(ctl.stdout), names) == line
    assert shape(json.loads(body), names) == line
    if os.environ.get("NETSENTINEL_WRITE_SHAPE"):
        GOLDEN.write_text(json.dumps(line, indent=1, sort_keys=True) + "\n")
    assert line == json.loads(GOLDEN.read_text())
    kept.close()
