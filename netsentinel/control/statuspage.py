"""``control.status_page``: one glance at the whole daemon, like haproxy's stats page.

Rendered on the server with twisted.web.template from what ``status`` returns
(plus the open connections of ``forward stats``), so every value is escaped by
the flattener and the page needs no JavaScript.  A section appears only for a
configured feature; whatever is wrong is listed first, in red.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from twisted.web.template import Element, Tag, TagLoader, renderer, tags

from netsentinel.addresses.report import problems as addresses_problems
from netsentinel.checks.report import problems as checks_problems
from netsentinel.checks.report import provider_text, provider_troubled
from netsentinel.docker.report import problems as docker_problems
from netsentinel.faults import problems as fault_problems
from netsentinel.forward.report import problems as forward_problems
from netsentinel.manhole.report import problems as manhole_problems
from netsentinel.nft.writer import sets_problems
from netsentinel.readable import ago, counts, duration, ms, percent, size
from netsentinel.traffic.report import problems as traffic_problems

DEFAULT_REFRESH = 5
MAX_REFRESH = 3600      # an hour: a larger value is as good as off, and says so
OPEN_ROWS = 50          # open connections listed per service; rendering runs on the reactor
Row = tuple[str, Any]
WRAP = {"elements", "addresses", "targets", "uplinks", "sources", "networks", "failures",
        "error"}    # grid columns holding lists or messages, which may take several lines

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:8px;max-width:1100px;color:#222}
h1{font-size:20px;margin:4px 0}h2{font-size:17px;border-bottom:2px solid #468;margin:18px 0 6px}
h3{font-size:15px;margin:12px 0 4px}nav,.muted{color:#666;font-size:12px}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:4px 0;min-width:50%}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#eef2f7;font-weight:600}.grid td{white-space:nowrap}
.grid td.wrap{white-space:normal;min-width:10em}td.n{text-align:right}
.ok{background:#dfd}.bad{background:#fcc;font-weight:600}
.problems{border:2px solid #c00;background:#fee;padding:6px 12px;margin:8px 0}
.problems h2{color:#c00;border:0;margin:0}
"""


def refresh_seconds(value: bytes | None) -> int:
    """``?refresh=N``: 0 turns the reload off; anything else is held to 1..MAX_REFRESH."""
    if value is None:
        return DEFAULT_REFRESH
    seconds = int(value)        # ValueError for text: the caller answers 400
    return 0 if seconds <= 0 else min(seconds, MAX_REFRESH)


# -- what is wrong: a pure function, so the red box is tested without a daemon

def problems(status: Mapping[str, Any]) -> list[str]:
    """Everything wrong, daemon first; each feature words its own (its ``report``)."""
    found: list[str] = []
    if not status.get("ready"):
        found.append("daemon: not ready (a feature's first sync has not finished)")
    if status["actions"]["failed"]:
        found.append(f"actions: {status['actions']['failed']} script(s) failed")
    found += fault_problems(status.get("faults"))
    metrics = status.get("metrics")
    if metrics and metrics["error"]:
        found.append(f"metrics: not listening on {metrics['listen']}: {metrics['error']}")
    found += sets_problems("addresses", status.get("addresses"))
    found += sets_problems("docker", status.get("docker"))
    found += addresses_problems(status.get("addresses"))
    found += forward_problems(status.get("forward"))
    found += checks_problems(status.get("checks"))
    found += traffic_problems(status.get("traffic"))
    found += docker_problems(status.get("docker"))
    found += manhole_problems(status.get("manhole"))
    return found


class StatusPage(Element):
    """The page for one ``status`` snapshot; ``connections`` is ``forward stats``'s detail."""

    loader = TagLoader(tags.html(
        tags.head(
            tags.meta(charset="utf-8"),
            tags.meta(name="viewport", content="width=device-width, initial-scale=1"),
            tags.transparent(render="refresh"),
            tags.title("netsentinel status"),
            tags.style(CSS)),
        tags.body(
            tags.h1("netsentinel ", tags.transparent(render="version")),
            tags.transparent(render="nav"),
            tags.transparent(render="problems"),
            tags.transparent(render="daemon"),
            tags.transparent(render="forward"),
            tags.transparent(render="checks"),
            tags.transparent(render="addresses"),
            tags.transparent(render="traffic"),
            tags.transparent(render="docker"),
            tags.transparent(render="manhole")),
        lang="en"))

    def __init__(self, status: Mapping[str, Any],
                 connections: Mapping[str, Sequence[Mapping[str, Any]]], refresh: int,
                 now: float | None = None) -> None:
        super().__init__()
        self.status = status
        self.connections = connections
        self.refresh_every = refresh
        self.now = time.time() if now is None else now

    @renderer
    def refresh(self, request: Any, tag: Tag) -> Tag | str:
        if not self.refresh_every:
            return ""
        return tags.meta(**{"http-equiv": "refresh", "content": str(self.refresh_every)})

    @renderer
    def version(self, request: Any, tag: Tag) -> str:
        return str(self.status["version"])

    @renderer
    def nav(self, request: Any, tag: Tag) -> Tag:
        every = f"every {self.refresh_every}s" if self.refresh_every else "off"
        return tags.nav(
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.now)),
            f" · reload {every}: ",
            tags.a("5s", href="?refresh=5"), " ", tags.a("30s", href="?refresh=30"), " ",
            tags.a("off", href="?refresh=0"), " · ", tags.a("JSON", href="/status.json"),
            " · ", tags.a("metrics", href="/metrics"))

    @renderer
    def problems(self, request: Any, tag: Tag) -> Tag | str:
        found = problems(self.status)
        if not found:
            return ""
        return tags.div(tags.h2(f"{len(found)} problem(s)"),
                        tags.ul([tags.li(p) for p in found]), class_="problems", id="problems")

    @renderer
    def daemon(self, request: Any, tag: Tag) -> Tag:
        s = self.status
        actions = s["actions"]
        rows: list[Row] = [
            ("version", s["version"]),
            ("uptime", duration(s["uptime"])),
            ("ready", s["ready"]),
            ("config", s["config"]),
            ("reloads", f"{s['reloads']['ok']} ok, {s['reloads']['refused']} refused"),
            ("bus events", s["events"]),
            ("faults", s.get("faults", {}).get("total", 0)),
            ("actions", f"{actions['running']} running, {actions['queued']} queued, "
                        f"{actions['finished']} finished, {actions['failed']} failed, "
                        f"{actions['dropped']} dropped"),
        ]
        if "metrics" in s:
            rows.append(("metrics", s["metrics"]["listen"] + (
                "" if s["metrics"]["listening"] else f" (not listening: {s['metrics']['error']})")))
        bad = [label for label, flag in (("ready", not s["ready"]),
                                         ("actions", actions["failed"]),
                                         ("faults", s.get("faults", {}).get("total"))) if flag]
        return tags.section(tags.h2("daemon"), pairs(rows, bad, id="daemon"))

    @renderer
    def forward(self, request: Any, tag: Tag) -> Tag | str:
        services = self.status.get("forward")
        if services is None:
            return ""
        return tags.section(tags.h2("forward"),
                            [self._service(name, services[name]) for name in sorted(services)])

    def _service(self, name: str, s: Mapping[str, Any]) -> Tag:
        backend = s["backend"]
        resolved = s["backend_address"]
        if resolved["error"]:
            backend += f" ({resolved['error']})"
        elif resolved["address"] and not backend.startswith(resolved["address"] + ":"):
            backend += f" ({resolved['address']})"
        rows: list[Row] = [
            ("state", s["state"]),
            ("listen → backend", f"{s['listen']} → {backend}"),
            ("open connections", s["connections"]),
            ("client IPs", s["ip_count"]),
            ("total / closed", f"{s['total_connections']} / {s['closed_connections']}"),
            ("bytes up", size(s["up"])),
            ("bytes down", size(s["down"])),
            ("rejected", counts(s["rejected"])),
            ("closed by", counts(s["closes"])),
            ("backend failures", s["backend_failures"]),
            ("blacklist", " ".join(s["blacklist"]) or "(empty)"),
            ("uptime", duration(s["uptime"])),
            ("last access", ago(s["accessed_at"], self.now)),
        ]
        if "blacklist_set" in s:
            rows.append(("blacklist set", s["blacklist_set"]["set"] + (
                f" ({s['blacklist_set']['error']})" if s["blacklist_set"]["error"] else "")))
        bad = [label for label, flag in (
            ("state", s["state"] != "running"), ("backend failures", s["backend_failures"]),
            ("listen → backend", resolved["error"])) if flag]
        open_ = self.connections.get(name, [])
        parts = [tags.h3(name), pairs(rows, bad, id=f"forward-{name}")]
        if open_:
            parts.append(grid(
                ("#", "client", "duration", "up", "down", "idle", "half-closed"),
                [(c["id"], f"{c['client']}:{c['port']}", duration(c["duration"]), size(c["up"]),
                  size(c["down"]), duration(c["idle"]), c["half_closed"])
                 for c in open_[:OPEN_ROWS]],
                id=f"forward-{name}-open"))
        if len(open_) > OPEN_ROWS:
            parts.append(tags.p(f"… and {len(open_) - OPEN_ROWS} more: "
                                f"netsentinel-ctl forward stats {name}", class_="muted"))
        return tags.div(parts)

    @renderer
    def checks(self, request: Any, tag: Tag) -> Tag | str:
        checks = self.status.get("checks")
        if checks is None:
            return ""
        parts: list[Tag] = [tags.h2("checks")]
        if checks.get("ping"):
            pings = checks["ping"]
            parts += [tags.h3("ping"), grid(
                ("name", "target", "last rtt", "rtt", "loss", "jitter", "alarm"),
                [(n, p["target"], ms(_rtt(p["last"])), ms(_rtt(p["window"])),
                  percent(p["window"]["loss"] if p["window"] else None),
                  ms(p["window"]["jitter"] if p["window"] else None), p["alarm"])
                 for n, p in pings.items()],
                [p["alarm"] for p in pings.values()], id="ping")]
        if checks.get("updown"):
            updown = checks["updown"]
            parts += [tags.h3("updown"), grid(
                ("name", "state", "targets", "alive", "quorum", "streak"),
                [(n, u["state"], " ".join(u["targets"]), sum(r["alive"] for r in u["last"]),
                  u["quorum"], u["streak"]) for n, u in updown.items()],
                [u["state"] == "offline" for u in updown.values()], id="updown")]
        if checks.get("ddns"):
            ddns = checks["ddns"]
            parts += [tags.h3("ddns"), grid(
                ("name", "family", "address", "checked", "changed", "failures", "provider"),
                [(n, d["family"], d["address"], ago(d["checked_at"], self.now),
                  ago(d["changed_at"], self.now),
                  "; ".join(f"{f['source']}: {f['reason']}" for f in d["failures"]) or None,
                  provider_text(d.get("provider"), self.now))
                 for n, d in ddns.items()],
                [bool(d["failures"]) or provider_troubled(d.get("provider"))
                 for d in ddns.values()], id="ddns")]
        if checks.get("failover"):
            failover = checks["failover"]
            parts += [tags.h3("failover"), grid(
                ("name", "active uplink", "uplinks", "switches", "repairs", "last switch"),
                [(n, f["active"], ", ".join(
                    f"{key}{'' if u['name'] == key else ' ' + u['name']}: {u['state']}"
                    f"{f' ({why})' if (why := u.get('reason')) and u['state'] == 'offline' else ''}"
                    f" via {u['gateway']} ({u['interface']})"
                    for key, u in f["uplinks"].items()), f["switches"], f["repairs"],
                  ago(f["switched_at"], self.now)) for n, f in failover.items()],
                [f["active"] is None for f in failover.values()], id="failover")]
        engine = checks.get("engine")
        if engine is not None:
            parts.append(tags.p(
                f"ICMP: {engine['sent']} sent, {engine['received']} received, "
                f"{engine['send_errors']} send errors, {engine['in_flight']} in flight",
                class_="muted"))
        return tags.section(parts)

    @renderer
    def addresses(self, request: Any, tag: Tag) -> Tag | str:
        a = self.status.get("addresses")
        if a is None:
            return ""
        parts = [
            tags.h2("addresses"),
            pairs([("last sync", ago(a["last_sync"], self.now)), ("syncs", a["syncs"]),
                   ("nft transactions", a["transactions"]), ("pending", a["pending"]),
                   ("netlink", f"{a['netlink']['messages']} messages, "
                               f"{a['netlink']['overflows']} overflows")], id="addresses"),
            tags.h3("interfaces"),
            grid(("interface", "up", "addresses"),
                 [(n, i["up"], " ".join(i["addresses"])) for n, i in a["interfaces"].items()],
                 id="addresses-interfaces"),
        ]
        if a["sets"]:
            parts += [tags.h3("sets"), sets_grid("addresses", a["sets"], self.now)]
        if a["files"]:
            parts += [tags.h3("files"), grid(
                ("file", "written", "error"),
                [(n, ago(f["written_at"], self.now), f["error"]) for n, f in a["files"].items()],
                [bool(f["error"]) for f in a["files"].values()], id="addresses-files")]
        return tags.section(parts)

    @renderer
    def traffic(self, request: Any, tag: Tag) -> Tag | str:
        traffic = self.status.get("traffic")
        if traffic is None:
            return ""
        triggers = traffic["triggers"]
        return tags.section(tags.h2("traffic"), grid(
            ("trigger", "state", "idle for", "idle after", "activations", "failures", "sources"),
            [(n, t["state"], duration(t["idle_for"]), duration(t["idle"]), t["activations"],
              t["failures"], "; ".join(
                  f"{s['device']} {s['state']}, {s['packets']} packets"
                  + (f" ({s['error']})" if s["error"] else "") for s in t["sources"]))
             for n, t in triggers.items()],
            [bool(t["failures"]) for t in triggers.values()], id="traffic"))

    @renderer
    def docker(self, request: Any, tag: Tag) -> Tag | str:
        d = self.status.get("docker")
        if d is None:
            return ""
        parts = [
            tags.h2("docker"),
            pairs([("socket", d["socket"]), ("connected", d["connected"]), ("error", d["error"]),
                   ("last listing", ago(d["listed_at"], self.now)), ("events", d["events"]),
                   ("last sync", ago(d["last_sync"], self.now))],
                  ["connected"] if not d["connected"] else [], id="docker"),
            tags.h3("containers"),
            grid(("name", "id", "networks"),
                 [(n, c["id"], "; ".join(f"{net}: {' '.join(ips)}"
                                         for net, ips in c["networks"].items()))
                  for n, c in d["containers"].items()], id="docker-containers"),
        ]
        if d["sets"]:
            parts += [tags.h3("sets"), sets_grid("docker", d["sets"], self.now)]
        return tags.section(parts)

    @renderer
    def manhole(self, request: Any, tag: Tag) -> Tag | str:
        m = self.status.get("manhole")
        if m is None:
            return ""
        return tags.section(tags.h2("manhole"), pairs(
            [("ssh", m["ssh"] or "not listening"), ("socket", m["socket"]),
             ("sessions", m["sessions"]), ("error", m["error"])],
            ["error"] if m["error"] else [], id="manhole"))


def _rtt(figures: Mapping[str, Any] | None) -> float | None:
    return figures["avg_rtt"] if figures and figures["received"] else None
