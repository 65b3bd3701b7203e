"""Up/down with hysteresis: one lost check must not flap a link.

The first result sets the state at once (there is nothing to flap from); after
that, ``down_after`` consecutive bad results turn an up link down and
``up_after`` consecutive good ones bring it back.  A result that agrees with
the state resets the count.
"""

from __future__ import annotations

import enum

import attrs


class LinkState(enum.Enum):
    UNKNOWN = "unknown"
    UP = "online"
    DOWN = "offline"


@attrs.frozen
class Change:
    state: LinkState
    initial: bool          # the first verdict after start, not a transition


@attrs.define
class Hysteresis:
    down_after: int
    up_after: int
    state: LinkState = LinkState.UNKNOWN
    streak: int = 0          # consecutive results that disagree with ``state``

    @property
    def changing(self) -> bool:
        """True while results disagree with the state: time to probe faster."""
        return self.streak > 0

    def feed(self, good: bool) -> Change | None:
        """Take one check's verdict; return the change when the state changes."""
        observed = LinkState.UP if good else LinkState.DOWN
        if self.state is LinkState.UNKNOWN:
            self.state = observed
            return Change(observed, True)
        if observed is self.state:
            self.streak = 0
            return None
        self.streak += 1
        if self.streak >= (self.up_after if good else self.down_after):
            self.state, self.streak = observed, 0
            return Change(observed, False)
        return None
