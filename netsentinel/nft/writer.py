"""The one set writer: "these sets should hold these elements", made true in the kernel.

Every feature that writes nft sets (interface zones, container zones, the
forwarder's blacklist mirror) hands a :class:`SetWriter` the whole desired
contents at each sync.  The writer reads each set back, computes the
difference, and applies every changed set in **one** libnftables transaction;
a transaction the kernel refuses is applied set by set, so one bad set (re-created
by someone with another type) holds back none of the others.  It keeps, per
set, what is there and the last error; sets a reload stopped asking for are
emptied once; events go on the bus.

The libnftables work (reading back 20,000 elements, building and committing the
transaction) runs in the reactor's thread pool, one write at a time per writer:
the daemon keeps answering while a big set is written.  The thread touches only
the writer's own :class:`NftClient` and returns plain values; states, logs and
events are updated back in the reactor thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.deferreds import in_thread as pool_thread
from netsentinel.events import SetsSynced, SyncFailed
from netsentinel.metrics import Family
from netsentinel.nft.client import NftClient, NftError
from netsentinel.nft.monitor import Touched
from netsentinel.nft.sets import (
    SetSpec,
    SetState,
    SetStatus,
    change,
    declare,
    expiries,
    needs_refresh,
    normalize,
)

if TYPE_CHECKING:
    from netsentinel.nft.watch import SetsWatch

log = Logger()

T = TypeVar("T")
InThread = Callable[[Callable[[], T]], "defer.Deferred[T]"]
SUMMARY = 8      # elements named in a log line; the rest are counted


@attrs.frozen
class Outcome:
    """What one write did to one set (computed in the thread)."""

    spec: SetSpec
    elements: frozenset[str] | None = None     # the kernel's contents now (None: unknown)
    error: str | None = None
    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    changed: bool = False
    refreshed: frozenset[str] = frozenset()    # re-added to restart their timeouts


@attrs.frozen
class Written:
    outcomes: tuple[Outcome, ...]
    refused: str | None = None                  # the transaction's error, if any set failed

    @property
    def changed(self) -> tuple[SetSpec, ...]:
        return tuple(sorted(o.spec for o in self.outcomes if o.changed))


Timeouts = Mapping[SetSpec, Mapping[str, int]]    # per timeout set: element -> seconds
Notes = Mapping[SetSpec, Mapping[str, str]]       # per set: element -> its comment


@attrs.frozen
class Plan:
    """A set to write: what the kernel holds (None: missing) and what to re-add."""

    current: frozenset[str] | None
    refresh: frozenset[str] = frozenset()


def converge(nft: NftClient, family: str, table: str, create: bool,
             desired: Mapping[SetSpec, frozenset[str]], timeouts: Timeouts | None = None,
             notes: Notes | None = None) -> Written:
    """Read back, diff, one transaction (set by set if refused). No reactor, no logging.

    An element of a timeout set (``SetSpec.timeout``) with a wanted timeout is re-added
    when half of it has run out (:func:`~netsentinel.nft.sets.needs_refresh`)."""
    done: list[Outcome] = []
    plans: dict[SetSpec, Plan] = {}
    timeouts, notes = timeouts or {}, notes or {}
    for spec, want in sorted(desired.items()):
        found = _read_back(nft, family, table, create, spec, want, timeouts.get(spec, {}))
        if isinstance(found, Plan):
            plans[spec] = found
        else:
            done.append(found)
    if not plans:
        return Written(tuple(done))
    try:
        _commit(nft, family, table, plans, desired, timeouts, notes)
        refused = None
        applied = list(plans)
    except NftError as e:
        refused, applied = str(e), []
        for spec in plans if len(plans) > 1 else ():
            try:
                _commit(nft, family, table, {spec: plans[spec]}, desired, timeouts, notes)
                applied.append(spec)
            except NftError as one:
                done.append(Outcome(spec, error=str(one)))
        if len(plans) == 1:
            done.append(Outcome(next(iter(plans)), error=refused))
    for spec in applied:
        plan, want = plans[spec], desired[spec]
        base = plan.current or frozenset()
        changed = plan.current != want
        done.append(Outcome(spec, want, None, want - base, base - want, changed,
                            plan.refresh))
    return Written(tuple(sorted(done, key=lambda o: o.spec)), refused)


def _read_back(nft: NftClient, family: str, table: str, create: bool, spec: SetSpec,
               want: frozenset[str], timeouts: Mapping[str, int]) -> Outcome | Plan:
    """One set as the kernel holds it: settled (an Outcome) or to be written (a Plan)."""
    where = f"set {family} {table} {spec.name}"
    refresh: frozenset[str] = frozenset()
    try:
        raw = nft.list_set(family, table, spec.name)
        current = None if raw is None else normalize(spec, raw, want)
        if raw is not None and spec.timeout and timeouts:
            left = expiries(raw)
            refresh = frozenset(e for e in want & left.keys()
                                if e in timeouts and needs_refresh(left[e], timeouts[e]))
    except NftError as e:
        return Outcome(spec, error=str(e))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        # re-created by someone with another type or flags (ether_addr, interval)
        return Outcome(spec, error=f"{where} is not a plain {spec.type} set "
                                   f"({type(e).__name__}: {e}); recreate it")
    if raw is None and not create:
        return Outcome(spec, error=f"{where} does not exist (create: false)")
    if current == want and not refresh:
        return Outcome(spec, elements=want)
    return Plan(current, refresh)


def _commit(nft: NftClient, family: str, table: str, plans: Mapping[SetSpec, Plan],
            desired: Mapping[SetSpec, frozenset[str]], timeouts: Timeouts,
            notes: Notes) -> None:
    commands = declare(family, table, [s for s, plan in plans.items() if plan.current is None])
    for spec, plan in sorted(plans.items()):
        commands += change(family, table, spec, plan.current, desired[spec],
                           timeouts.get(spec), plan.refresh, notes.get(spec))
    nft.transaction(commands)


def summary(elements: Iterable[str]) -> str:
    chosen = sorted(elements)
    shown = ", ".join(chosen[:SUMMARY])
    return shown + (f" and {len(chosen) - SUMMARY} more" if len(chosen) > SUMMARY else "")


class SetWriter:
    """One feature's sets (its ``sink`` name in events and logs) and their states."""

    def __init__(self, sink: str, bus: Any, reactor: Any, nft: NftClient | None = None,
                 in_thread: InThread[Any] | None = None) -> None:
        self.where: tuple[str, str] | None = None     # family, table of the last write
        self._resync: Callable[[], None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self._refill = False                         # the next write follows our own reload
        self._watch: SetsWatch | None = None
        self.sink = sink
        self.bus = bus
        self.nft = nft or NftClient()
        self.states: dict[str, SetState] = {}
        self.retired: set[SetSpec] = set()
        self._lock = defer.DeferredLock()    # one write at a time: the client is not shared
        self._in_thread: InThread[Any] = in_thread or (lambda f: pool_thread(reactor, f))

    # -- healing: told of outside changes by the daemon's SetsWatch

    @property
    def repairs(self) -> dict[str, int]:
        """Outside changes undone, by "family table set" (from the sets' own counts)."""
        if self.where is None:
            return {}
        family, table = self.where
        return {f"{family} {table} {name}": state.repairs
                for name, state in sorted(self.states.items()) if state.repairs}

    def watch(self, watch: SetsWatch, resync: Callable[[], None]) -> None:
        """Call ``resync`` (the feature's debounced sync) whenever another program
        changes this writer's table or sets."""
        self.unwatch()
        self._resync = resync
        self._watch = watch
        self._unwatch = watch.register(self)

    def unwatch(self) -> None:
        unwatch, self._unwatch, self._resync, self._watch = self._unwatch, None, None, None
        if unwatch is not None:
            unwatch()

    def touched_by(self, touched: frozenset[Touched]) -> bool:
        if self.where is None:
            return False
        family, table = self.where
        names = set(self.states) | {spec.name for spec in self.retired}
        return any(t.family == family and t.table == table and (t.set is None or t.set in names)
                   for t in touched)

    def outside_change(self) -> None:
        if self._resync is not None:
            self._resync()

    def expect_refill(self) -> None:
        """Our own ruleset load may have emptied the sets: the next write refills them
        without counting that as an outside change."""
        self._refill = True

    def retire(self, specs: Iterable[SetSpec]) -> None:
        """Sets no longer asked for: emptied by the next write, then forgotten."""
        self.retired |= set(specs)

    def write(self, family: str, table: str, create: bool,
              desired: Mapping[SetSpec, frozenset[str]],
              timeouts: Timeouts | None = None,
              notes: Notes | None = None) -> defer.Deferred[Any]:
        """Bring the sets to ``desired`` (plus retired ones emptied); fires with the
        specs that were rewritten. Failures are in the states and on the bus, never raised.
        A write asked for while one runs starts when it ends.  ``timeouts`` gives the
        elements of timeout sets their timeouts in seconds (refreshed at half-time),
        ``notes`` the comments added elements carry."""
        return self._lock.run(self._write, family, table, create, dict(desired),
                              dict(timeouts or {}), dict(notes or {}))

    @defer.inlineCallbacks
    def _write(self, family: str, table: str, create: bool,
               desired: Mapping[SetSpec, frozenset[str]], timeouts: Timeouts,
               notes: Notes) -> Any:
        wanted = dict(desired)
        wanted.update({spec: frozenset() for spec in self.retired if spec not in wanted})
        if not wanted:
            return ()
        refill, self._refill = self._refill, False
        written: Written = yield self._in_thread(
            lambda: converge(self.nft, family, table, create, wanted, timeouts, notes))
        if (family, table) != self.where:
            refill = True           # first write, or moved: nothing of ours was there
            self.where = (family, table)
            if self._watch is not None:
                self._watch.moved()
        self._record(family, table, written, refill)
        if written.refused is None and all(o.error is None for o in written.outcomes):
            self.retired.clear()
        return written.changed

    def _record(self, family: str, table: str, written: Written, refill: bool) -> None:
        now = time.time()
        for o in written.outcomes:
            state = self.states.setdefault(o.spec.name, SetState())
            if o.changed and not refill and state.synced_at is not None \
                    and state.elements == o.elements:
                self._repaired(family, table, o, state)
            if o.error is not None:
                if state.error != o.error:
                    log.error("nft: {error}", error=o.error)
                state.error = o.error
                continue
            assert o.elements is not None
            state.elements, state.synced_at, state.error = o.elements, now, None
            if o.changed:
                log.info("set {family} {table} {set} synced: {count} elements (added {added}; "
                         "removed {removed})", family=family, table=table, set=o.spec.name,
                         count=len(o.elements), added=summary(o.added) or "-",
                         removed=summary(o.removed) or "-")
        if written.refused is not None:
            failed = sorted(o.spec.name for o in written.outcomes if o.error is not None)
            log.error("nft transaction failed ({error}); applied set by set, failed: {failed}",
                      error=written.refused, failed=", ".join(failed))
            self.bus.publish(SyncFailed(self.sink, written.refused))
        if written.changed:
            self.bus.publish(SetsSynced(tuple(s.name for s in written.changed),
                                        self.nft.transactions))

    def _repaired(self, family: str, table: str, o: Outcome, state: SetState) -> None:
        """The kernel lost what we had written and last read back: someone else did it."""
        where = f"{family} {table} {o.spec.name}"
        state.repairs += 1
        count = len(o.elements or ())
        log.info("set {where} refilled after an outside change ({count} element{s})",
                 where=where, count=count, s="" if count == 1 else "s")

    def failing(self) -> bool:
        """True while any set is in error: its owner retries on a timer."""
        return any(state.error is not None for state in self.states.values())

    def snapshot(self) -> dict[str, SetStatus]:
        return {name: state.snapshot() for name, state in sorted(self.states.items())}


def sets_problems(key: str, sets: Mapping[str, SetStatus]) -> list[str]:
    """The sets in error of a feature (``key`` in the line), from :meth:`SetWriter.snapshot`."""
    return [f"{key}: set {name} not synced: {state.error}"
            for name, state in sets.items() if state.error]


def sets_metrics(sets: Mapping[str, SetStatus], elements: Family, synced: Family,
                 error: Family) -> list[Family]:
    """A feature's three set families (its own names), one sample per set."""
    return [elements.with_samples(((n,), len(s.elements)) for n, s in sets.items()),
            synced.with_samples(((n,), s.synced_at) for n, s in sets.items()),
            error.with_samples(((n,), s.error is not None) for n, s in sets.items())]
