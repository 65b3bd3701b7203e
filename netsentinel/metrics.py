"""Prometheus metric families as values, and their text exposition (format 0.0.4).

Each part of the daemon declares its families once as constants and fills them
from what its ``status()`` already computes; :func:`render` is pure, so the
output is golden-tested and the same for HTTP and the control socket.  Several
instances (two forward services, three ping monitors) may each return the same
family: it is rendered once, with all their samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import attrs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
KINDS = ("counter", "gauge")

Value = float | int | bool | None


@attrs.frozen
class Family:
    """One metric name: its type, help text, label names and samples (label values, value)."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    samples: tuple[tuple[tuple[str, ...], float], ...] = ()

    def of(self, value: Value, *label_values: str) -> Family:
        """This family with one sample (none when ``value`` is None: not known yet)."""
        if value is None:
            return self
        return Family(self.name, self.kind, self.help, self.labels,
                      self.samples + ((label_values, _number(value)),))

    def with_samples(self, samples: Iterable[tuple[Sequence[str], Value]]) -> Family:
        """This family holding ``samples``; a None value is left out (not known yet)."""
        kept = tuple((tuple(str(v) for v in labels), _number(value))
                     for labels, value in samples if value is not None)
        return Family(self.name, self.kind, self.help, self.labels, self.samples + kept)

    @property
    def declaration(self) -> tuple[str, str, str, tuple[str, ...]]:
        return self.name, self.kind, self.help, self.labels


def _number(value: float | int | bool) -> float:
    """Booleans become 1/0; integers stay exact (byte counts beyond 2**53)."""
    return int(value) if isinstance(value, (bool, int)) else float(value)


def counter(name: str, help: str, *labels: str) -> Family:
    return Family(name, "counter", help, labels)


def gauge(name: str, help: str, *labels: str) -> Family:
    return Family(name, "gauge", help, labels)


def one_hot(family: Family, states: Iterable[str], current: str | None,
            *label_values: str) -> Family:
    """A state as a gauge per possible state, 1 for the current one (the last label)."""
    return family.with_samples([((*label_values, state), state == current) for state in states])


def render(families: Iterable[Family]) -> str:
    """The exposition text: families sorted by name, samples by label values.

    Raises ValueError for what Prometheus would reject (bad names, a counter
    not ending in ``_total``, one name declared two ways, a repeated label set):
    such output is a bug of ours, not something to serve.
    """
    declared: dict[str, Family] = {}
    samples: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for family in families:
        known = declared.get(family.name)
        if known is None:
            _check(family)
            declared[family.name] = family
            samples[family.name] = []
        elif known.declaration != family.declaration:
            raise ValueError(f"metric {family.name} is declared twice, differently")
        for values, _ in family.samples:
            if len(values) != len(family.labels):
                raise ValueError(f"metric {family.name}: {len(values)} label values for "
                                 f"labels {family.labels}")
        samples[family.name].extend(family.samples)
    lines: list[str] = []
    for name in sorted(declared):
        family = declared[name]
        lines.append(f"# HELP {name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {name} {family.kind}")
        seen: set[tuple[str, ...]] = set()
        for values, value in sorted(samples[name], key=lambda s: s[0]):
            if values in seen:
                raise ValueError(f"metric {name} has two samples labelled {values}")
            seen.add(values)
            lines.append(f"{name}{_labels(family.labels, values)} {format_value(value)}")
    return "".join(line + "\n" for line in lines)


def _check(family: Family) -> None:
    if not _METRIC_NAME.match(family.name):
        raise ValueError(f"invalid metric name {family.name!r}")
    if family.kind not in KINDS:
        raise ValueError(f"metric {family.name}: unknown type {family.kind!r}")
    if family.kind == "counter" and not family.name.endswith("_total"):
        raise ValueError(f"counter {family.name} must end in _total")
    for label in family.labels:
        if not _LABEL_NAME.match(label) or label.startswith("__"):
            raise ValueError(f"metric {family.name}: invalid label name {label!r}")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=False)) + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integers and whole floats without a fraction, others as Python's repr."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2 ** 63:
        return str(int(value))
    return repr(value)
