"""What a feature reports: a frozen snapshot, and its JSON both ways.

Every feature's ``status()`` returns a :class:`Snapshot`: frozen attrs values, taken at
once, that know their own problems, metrics and status-page section.  The JSON that
``status``, ``status --json`` and ``/status.json`` print is :func:`to_json` of them, and
:func:`from_json` reads it back into the same classes (``netsentinel-ctl`` and tests).

The field names are the JSON keys.  A field whose metadata has ``omit_none`` is left out
of the JSON while it is ``None`` (a section present only when configured).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, Union

import attrs
from twisted.web.template import Tag

from netsentinel.metrics import Family

if typing.TYPE_CHECKING:
    from netsentinel.page import PageView

T = TypeVar("T")
OMIT_NONE = {"omit_none": True}


class Snapshot(Protocol):
    """A feature's state at one moment, and everything said about it."""

    def to_json(self) -> dict[str, Any]: ...
    def problems(self) -> list[str]: ...
    def metrics(self) -> list[Family]: ...
    def section(self, view: PageView) -> Tag | str: ...


def omitted(default: Any = None) -> Any:
    """An attrs field left out of the JSON while it is None."""
    return attrs.field(default=default, metadata=OMIT_NONE)


def to_json(value: Any) -> Any:
    """Plain JSON values from attrs instances, tuples, lists and str-keyed mappings."""
    if attrs.has(type(value)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if item is None and field.metadata.get("omit_none"):
                continue
            out[field.name] = to_json(item)
        return out
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(cls: type[T], data: Any) -> T:
    """The value of type ``cls`` (an attrs class or a typing form) that ``data`` is the
    :func:`to_json` of; a missing key takes the field's default (None for ``omit_none``)."""
    return typing.cast(T, _structure(cls, data))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _structure(kind: Any, data: Any) -> Any:
    if kind is Any or kind is object:
        return data
    if isinstance(kind, type) and "from_json" in vars(kind):    # a shape of its own
        return typing.cast(Any, kind).from_json(data)
    if isinstance(kind, type) and attrs.has(kind):
        hints = _hints(kind)
        values = {}
        for field in attrs.fields(kind):
            if field.name in data:
                values[field.name] = _structure(hints[field.name], data[field.name])
            elif field.default is attrs.NOTHING and not field.metadata.get("omit_none"):
                raise KeyError(f"{kind.__name__}: {field.name} missing")
        return kind(**values)
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:
            return _structure(others[0], data)
        for other in others:        # plain values: the first that takes it as it is
            if _accepts(other, data):
                return _structure(other, data)
        raise TypeError(f"{data!r} is none of {kind}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_structure(args[0], v) for v in data)
        return tuple(_structure(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        return [_structure(args[0], v) for v in data]
    if origin in (dict, Mapping, typing.Mapping):
        return {k: _structure(args[1], v) for k, v in data.items()}
    if kind is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    return data


def _accepts(kind: Any, data: Any) -> bool:
    origin = typing.get_origin(kind) or kind
    if origin is float:
        return isinstance(data, (int, float)) and not isinstance(data, bool)
    if origin in (tuple, list):
        return isinstance(data, list)
    if origin in (dict, Mapping):
        return isinstance(data, dict)
    return isinstance(origin, type) and isinstance(data, origin)
