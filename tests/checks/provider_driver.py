"""Runs provider updates for a lab test, inside its namespace, with the real reactor.

``python -m tests.checks.provider_driver CASES.json``: each case is ``{"update": {...},
"hosts": [...], "address": "..."}``; the ``update:`` mapping goes through the config
parser as a user's would, then the protocol's module sends it. Prints one JSON line:
per case the ``[host, code, kind]`` results, or the config's problems.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml
from twisted.internet import defer, task

from netsentinel.checks.provider_config import parse_update
from netsentinel.checks.providers.send import sender
from netsentinel.schema import Section


@defer.inlineCallbacks
def run(reactor: Any, path: str) -> Any:
    with open(path) as f:
        cases = json.load(f)
    out: list[Any] = []
    for case in cases:
        section = Section.from_text(yaml.safe_dump({"update": case["update"]}), "case.yaml")
        config = parse_update(section.section("update"))
        if section.problems or config is None:
            out.append([str(p) for p in section.problems])
            continue
        results = yield sender(reactor, config, 5.0)(tuple(case["hosts"]), case["address"])
        out.append([[r.host, r.code, r.kind] for r in results])
    print(json.dumps(out))


if __name__ == "__main__":
    task.react(run, sys.argv[1:])
