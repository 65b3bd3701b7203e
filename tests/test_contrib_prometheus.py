"""The shipped Prometheus rules: valid for promtool, and their unit tests (series in,
alerts out) pass with Debian's promtool."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.lab import ROOT, require

RULES = ROOT / "contrib" / "prometheus" / "netsentinel-rules.yml"
RULE_TESTS = ROOT / "contrib" / "prometheus" / "netsentinel-rules.test.yml"
METRICS_DOC = ROOT / "docs" / "metrics.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    require("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120,
                          cwd=RULES.parent, check=False)


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_annotations() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test.get("alert_rule_test", [])}
    assert {a["alert"] for a in alerts} <= tested
    for alert in alerts:
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]


def test_rules_name_only_documented_families() -> None:
    """A renamed family would make a rule silently match nothing."""
    documented = set(re.findall(r"`(netsentinel_[a-z0-9_]+)`", METRICS_DOC.read_text()))
    # a family name not followed by ':' (recorded series are level:family:operations)
    used = set(re.findall(r"\bnetsentinel_[a-z0-9_]+\b(?!:)", RULES.read_text()))
    assert used <= documented, used - documented
