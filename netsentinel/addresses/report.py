"""What the address monitor reports: its snapshot, problems, metrics and page section."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.metrics import Family, counter, gauge
from netsentinel.nft.sets import SetStatus
from netsentinel.nft.writer import sets_metrics, sets_problems
from netsentinel.page import PageView, grid, pairs, sets_grid
from netsentinel.readable import ago
from netsentinel.snapshot import to_json

SET_ELEMENTS = gauge("netsentinel_addresses_set_elements",
                     "Elements in the nft set as last synced.", "set")
SET_SYNCED = gauge("netsentinel_addresses_set_last_sync_timestamp_seconds",
                   "When the set was last found or made right (Unix time).", "set")
SET_ERROR = gauge("netsentinel_addresses_set_error",
                  "1 while the set's last sync failed (the reason is in status).", "set")
FILE_WRITTEN = gauge("netsentinel_addresses_file_last_write_timestamp_seconds",
                     "When the file (vars, sets, proxy, ruleset) was last written or loaded.",
                     "file")
FILE_ERROR = gauge("netsentinel_addresses_file_error",
                   "1 while writing the file (or loading the ruleset) fails.", "file")
SYNCS = counter("netsentinel_addresses_syncs_total", "Syncs: a dump compared with every sink.")
LAST_SYNC = gauge("netsentinel_addresses_last_sync_timestamp_seconds",
                  "When the last sync ran (Unix time).")
TRANSACTIONS = counter("netsentinel_addresses_nft_transactions_total",
                       "nft transactions applied (one per sync that changed a set).")
NETLINK_MESSAGES = counter("netsentinel_addresses_netlink_messages_total",
                           "Netlink link and address notifications received.")
NETLINK_RESYNCS = counter("netsentinel_addresses_netlink_resyncs_total",
                          "Netlink receive-buffer overflows (ENOBUFS), each answered by a "
                          "full resync.")
DUMPS_INTERRUPTED = counter("netsentinel_addresses_netlink_dumps_interrupted_total",
                            "Dumps the kernel marked as racing with a change that were used "
                            "after 3 retries (constant churn); the next sync corrects them.")


@attrs.frozen
class InterfaceStatus:
    index: int
    up: bool
    addresses: tuple[str, ...]


@attrs.frozen
class FileStatus:
    """A file sink (vars, sets, proxy, ruleset): when it was last written, its error."""

    written_at: float | None = None
    error: str | None = None


@attrs.frozen
class NetlinkStatus:
    messages: int
    overflows: int
    interrupted: int


@attrs.frozen
class AddressesStatus:
    """The ``addresses`` section of ``status``."""

    interfaces: dict[str, InterfaceStatus]
    sets: dict[str, SetStatus]
    files: dict[str, FileStatus]
    syncs: int
    transactions: int
    last_sync: float | None
    pending: bool
    netlink: NetlinkStatus

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def problems(self) -> list[str]:
        return sets_problems("addresses", self.sets) + [
            f"addresses: file {name}: {state.error}"
            for name, state in self.files.items() if state.error]

    def metrics(self) -> list[Family]:
        return [
            *sets_metrics(self.sets, SET_ELEMENTS, SET_SYNCED, SET_ERROR),
            FILE_WRITTEN.with_samples(((k,), s.written_at) for k, s in self.files.items()),
            FILE_ERROR.with_samples(((k,), s.error is not None) for k, s in self.files.items()),
            SYNCS.of(self.syncs),
            LAST_SYNC.of(self.last_sync),
            TRANSACTIONS.of(self.transactions),
            NETLINK_MESSAGES.of(self.netlink.messages),
            NETLINK_RESYNCS.of(self.netlink.overflows),
            DUMPS_INTERRUPTED.of(self.netlink.interrupted),
        ]

    def section(self, view: PageView) -> Tag:
        parts = [
            tags.h2("addresses"),
            pairs([("last sync", ago(self.last_sync, view.now)), ("syncs", self.syncs),
                   ("nft transactions", self.transactions), ("pending", self.pending),
                   ("netlink", f"{self.netlink.messages} messages, "
                               f"{self.netlink.overflows} overflows")], id="addresses"),
            tags.h3("interfaces"),
            grid(("interface", "up", "addresses"),
                 [(n, i.up, " ".join(i.addresses)) for n, i in self.interfaces.items()],
                 id="addresses-interfaces"),
        ]
        if self.sets:
            parts += [tags.h3("sets"), sets_grid("addresses", self.sets, view.now)]
        if self.files:
            parts += [tags.h3("files"), grid(
                ("file", "written", "error"),
                [(n, ago(f.written_at, view.now), f.error) for n, f in self.files.items()],
                [bool(f.error) for f in self.files.values()], id="addresses-files")]
        return tags.section(parts)
