"""AMP commands shared by the daemon and ``netsentinel-ctl``.

Replies are JSON text in a :class:`JSONArgument`, split over several AMP keys
because one AMP value is limited to 64 KiB and a status reply may be larger.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.protocols import amp

CHUNK = 60000


class JSONArgument(amp.Argument):
    """Any JSON-able value, chunked across ``name``, ``name.0``, ``name.1``, ..."""

    def toBox(self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any],
              proto: Any) -> None:
        data = json.dumps(objects[amp._wireNameToPythonIdentifier(name)]).encode()
        chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        strings[name] = b"%d" % len(chunks)
        for i, chunk in enumerate(chunks):
            strings[b"%s.%d" % (name, i)] = chunk

    def fromBox(self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any],
                proto: Any) -> None:
        count = int(strings[name])
        data = b"".join(strings[b"%s.%d" % (name, i)] for i in range(count))
        objects[amp._wireNameToPythonIdentifier(name)] = json.loads(data)


class Call(amp.Command):
    """Run one control command given as words, e.g. ``["forward", "stats", "ssh"]``."""

    arguments = [(b"words", amp.ListOf(amp.Unicode()))]
    response = [(b"reply", JSONArgument())]
    errors = {Exception: b"COMMAND_ERROR"}


class Watch(amp.Command):
    """Subscribe this connection to the bus; events arrive as :class:`Notify`."""


class Notify(amp.Command):
    arguments = [(b"event", JSONArgument())]
    requiresAnswer = False
