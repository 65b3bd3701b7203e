"""The Prometheus text renderer: golden output, escaping, order, and Prometheus's own lint."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
from pathlib import Path

import pytest

import netsentinel
from netsentinel.metrics import Family, counter, gauge, one_hot, render
from tests.lab import require

BYTES = counter("demo_bytes_total", "Bytes relayed.", "service", "direction")
OPEN = gauge("demo_open_connections", "Connections open now.", "service")
UPTIME = gauge("demo_uptime_seconds", "Seconds since start.")


def test_golden_output() -> None:
    text = render([
        UPTIME.of(12.5),
        BYTES.with_samples([(("web", "up"), 2 ** 60 + 1), (("ssh", "down"), 10),
                            (("ssh", "up"), 3)]),
        OPEN.of(0, "ssh"),
    ])
    assert text == (
        "# HELP demo_bytes_total Bytes relayed.\n"
        "# TYPE demo_bytes_total counter\n"
        'demo_bytes_total{service="ssh",direction="down"} 10\n'
        'demo_bytes_total{service="ssh",direction="up"} 3\n'
        'demo_bytes_total{service="web",direction="up"} 1152921504606846977\n'
        "# HELP demo_open_connections Connections open now.\n"
        "# TYPE demo_open_connections gauge\n"
        'demo_open_connections{service="ssh"} 0\n'
        "# HELP demo_uptime_seconds Seconds since start.\n"
        "# TYPE demo_uptime_seconds gauge\n"
        "demo_uptime_seconds 12.5\n")


def test_label_values_and_help_are_escaped() -> None:
    family = gauge("demo_info", 'Help with \\ and\nnewline "quoted".', "name")
    assert render([family.of(1, 'a"b\\c\nd')]) == (
        '# HELP demo_info Help with \\\\ and\\nnewline "quoted".\n'
        "# TYPE demo_info gauge\n"
        'demo_info{name="a\\"b\\\\c\\nd"} 1\n')


def test_same_family_from_several_instances_is_rendered_once() -> None:
    text = render([OPEN.of(2, "web"), UPTIME.of(1), OPEN.of(1, "ssh")])
    assert text.count("# TYPE demo_open_connections gauge") == 1
    assert text.splitlines()[2:4] == ['demo_open_connections{service="ssh"} 1',
                                      'demo_open_connections{service="web"} 2']


def test_family_without_samples_still_declares_itself() -> None:
    assert render([OPEN]) == ("# HELP demo_open_connections Connections open now.\n"
                              "# TYPE demo_open_connections gauge\n")


def test_values_unknown_yet_are_left_out_and_booleans_are_numbers() -> None:
    text = render([OPEN.with_samples([(("a",), None), (("b",), True), (("c",), False)])])
    assert text.splitlines()[2:] == ['demo_open_connections{service="b"} 1',
                                     'demo_open_connections{service="c"} 0']


def test_special_float_values() -> None:
    family = gauge("demo_value", "A value.", "case")
    text = render([family.with_samples([(("nan",), float("nan")), (("inf",), float("inf")),
                                        (("ninf",), float("-inf")), (("small",), 1e-05),
                                        (("whole",), 3.0)])])
    assert text.splitlines()[2:] == ['demo_value{case="inf"} +Inf', 'demo_value{case="nan"} NaN',
                                     'demo_value{case="ninf"} -Inf',
                                     'demo_value{case="small"} 1e-05', 'demo_value{case="whole"} 3']


def test_state_as_one_gauge_per_state() -> None:
    state = gauge("demo_state", "Current state.", "name", "state")
    text = render([one_hot(state, ["standby", "active"], "active", "t1")])
    assert text.splitlines()[2:] == ['demo_state{name="t1",state="active"} 1',
                                     'demo_state{name="t1",state="standby"} 0']


@pytest.mark.parametrize("family, message", [
    (counter("demo_bytes", "No suffix."), "must end in _total"),
    (gauge("demo-bad", "Dash."), "invalid metric name"),
    (gauge("demo_x", "Label.", "bad-label"), "invalid label name"),
    (gauge("demo_x", "Label.", "__reserved"), "invalid label name"),
    (gauge("demo_x", "Arity.", "a", "b").of(1, "only one"), "1 label values"),
    (Family("demo_x", "histogram", "Kind."), "unknown type"),
])
def test_invalid_families_are_refused(family: Family, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render([family])


def test_one_name_declared_two_ways_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        render([gauge("demo_x_total", "One."), counter("demo_x_total", "Two.")])


def test_repeated_label_set_is_refused() -> None:
    with pytest.raises(ValueError, match="two samples"):
        render([OPEN.of(1, "ssh"), OPEN.of(2, "ssh")])


def test_prometheus_own_linter_accepts_the_output() -> None:
    """promtool (from Debian's prometheus package) parses the text as the server would."""
    require("promtool")
    text = render([
        UPTIME.of(12.5), OPEN.of(3, 'we"ird\nname'),
        BYTES.with_samples([(("ssh", "up"), 3), (("ssh", "down"), 2 ** 60)]),
        one_hot(gauge("demo_state", "Current state.", "name", "state"), ["a", "b"], "a", "t"),
    ])
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def declared_families() -> list[Family]:
    """Every family the daemon declares, found in the modules (no list to keep in step);
    one imported into other modules is found once, a name declared twice differently twice."""
    found: dict[tuple[str, str, str, tuple[str, ...]], Family] = {}
    for module in pkgutil.walk_packages(netsentinel.__path__, "netsentinel."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, Family):
                found.setdefault(value.declaration, value)
    return list(found.values())


def test_every_declared_family_passes_promtool() -> None:
    require("promtool")
    families = declared_families()
    assert len(families) > 40
    text = render(f.with_samples([(("x",) * len(f.labels), 1)]) for f in families)
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_declared_family_is_documented_with_its_labels() -> None:
    """docs/metrics.md lists each family in a table row naming its type and its labels
    (in the row, or in the section's text when every family there has it)."""
    docs = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    rows: dict[str, tuple[str, str]] = {}
    for section in docs.split("\n### "):
        intro = section.split("\n|", 1)[0]
        for line in section.splitlines():
            if line.startswith("| `netsentinel_"):
                rows[line.split("|")[1].strip().strip("`")] = (line, intro)
    families = declared_families()
    missing = [f.name for f in families if f.name not in rows]
    assert not missing, f"not in docs/metrics.md: {missing}"
    for family in families:
        row, intro = rows[family.name]
        assert f"| {family.kind} |" in row, (family.name, family.kind)
        for label in family.labels:
            assert f"`{label}`" in row or f"`{label}`" in intro, (family.name, label)
