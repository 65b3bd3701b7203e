"""Events published by the address monitor."""

from __future__ import annotations

import attrs

from netsentinel.events import Event


@attrs.frozen
class AddressesChanged(Event):
    """An interface's addresses effectively changed (a no-op renewal is no event)."""

    kind = "addresses-changed"
    interface: str
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def script_args(self) -> tuple[str, ...]:
        """The action script's words: ``INTERFACE ADDED REMOVED`` (comma-separated lists)."""
        return self.interface, ",".join(self.added), ",".join(self.removed)
