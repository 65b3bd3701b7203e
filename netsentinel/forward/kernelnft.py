"""A ``mode: kernel`` service as nftables: the kernel forwards, the rules admit.

Everything lives in netsentinel's own table (``inet netsentinel``), named after the
service (``fwd_NAME``...).  Two NAT base chains (``prerouting`` for clients on the
network, ``output`` for the router's own) send a new flow to the service's port on
a local address (``fib daddr type local``: traffic routed *through* the router to
the same port elsewhere is not ours) into the service chain, which admits it the
way the relay does, in order: bans, the blacklist, ``conn_limit`` and
``per_ip_limit`` (``ct count``: open flows, exact), ``per_ip_rate`` (a token bucket
per source), then DNATs it to the backend.  A NAT chain sees only a flow's first
packet, so every later packet costs the kernel a conntrack lookup and nothing
else.  A refusal is logged to the service's NFLOG group with the prefix
``netsentinel NAME REASON`` (the daemon counts it and strikes bans from it) and
dropped.  A third chain masquerades the forwarded flows of other hosts, so the
backend answers through the router as it would answer the relay.  A flow ends when
conntrack forgets it (UDP: ``net.netfilter.nf_conntrack_udp_timeout_stream``).

Every change is one transaction: the chains are added (kept if they exist) and
flushed and refilled together with the sets they use.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from typing import Any

from netsentinel.forward.bannft import ban_sources
from netsentinel.forward.bannft import specs as ban_specs
from netsentinel.forward.config import OWN_TABLE, WILDCARDS, Network, ServiceConfig
from netsentinel.nft.expr import match, payload

PRIORITY_DNAT = -105        # before dstnat (-100): the user's NAT sees the result
PRIORITY_SNAT = 95          # before srcnat (100)
PRIORITY_COUNT = 0          # filter: after DNAT, so a flow's first packet is its own
PREFIX = "netsentinel"      # log prefix: "netsentinel NAME REASON"
SET_SIZE = 65535


def names(config: ServiceConfig) -> dict[str, str]:
    base = "fwd_" + config.name
    return {"chain": base, "pre": base + "_pre", "out": base + "_out", "post": base + "_post",
            "total": base + "_total", "ip4": base + "_ip4", "ip6": base + "_ip6",
            "rate4": base + "_rate4", "rate6": base + "_rate6",
            "count": base + "_count", "cpre": base + "_cpre", "cout": base + "_cout",
            "new": base + "_new", "up": base + "_up", "down": base + "_down"}


COUNTERS = ("new", "up", "down")    # named: they outlive the rules a change rewrites


def families(config: ServiceConfig) -> tuple[int, ...]:
    """The IP versions the service forwards: the backend's (no NAT between them), and
    only the listening address's when it is not a wildcard."""
    backend = ipaddress.ip_address(config.backend.host).version
    if config.listen.host in WILDCARDS:
        return (backend,)
    return (backend,) if ipaddress.ip_address(config.listen.host).version == backend else ()


def rate(per_second: float) -> tuple[int, str]:
    """nft's whole-number rate for ``per_second``: per second, minute, hour or day."""
    for unit, seconds in (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400)):
        value = per_second * seconds
        if value >= 1 and (abs(value - round(value)) < 1e-9 or unit == "day"):
            return max(1, round(value)), unit
    return max(1, math.ceil(per_second * 86400)), "day"


def commands(config: ServiceConfig, blacklist: Iterable[Network], group: int,
             existing: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The whole service, in one transaction.  The sets in ``existing`` are left as
    they are: a set a rule adds to became dynamic, and libnftables' JSON cannot say
    so (re-adding it as declared would fail), and it keeps its counts."""
    family, table = OWN_TABLE
    n = names(config)
    where = {"family": family, "table": table}
    out: list[dict[str, Any]] = [{"add": {"table": {"family": family, "name": table}}}]
    out += [{"add": {"set": {**where, **s}}} for s in _sets(config, n)
            if s["name"] not in existing]
    out += [{"add": {"counter": {**where, "name": n[key]}}} for key in COUNTERS]
    chains = (("chain", None, "nat", 0), ("pre", "prerouting", "nat", PRIORITY_DNAT),
              ("out", "output", "nat", PRIORITY_DNAT), ("post", "postrouting", "nat", PRIORITY_SNAT),
              ("count", None, "filter", 0), ("cpre", "prerouting", "filter", PRIORITY_COUNT),
              ("cout", "output", "filter", PRIORITY_COUNT))
    for key, hook, kind, prio in chains:
        chain: dict[str, Any] = {**where, "name": n[key]}
        if hook is not None:
            chain.update(type=kind, hook=hook, prio=prio, policy="accept")
        out += [{"add": {"chain": chain}}, {"flush": {"chain": {**where, "name": n[key]}}}]

    def rule(chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
        return {"add": {"rule": {**where, "chain": n[chain], "expr": list(expr)}}}

    entry = _entry(config)
    out += [rule("pre", *entry, {"jump": {"target": n["chain"]}}),
            rule("out", *entry, {"jump": {"target": n["chain"]}})]
    out += [rule("chain", *expr) for expr in _admission(config, tuple(blacklist), n, group)]
    out += [rule("post", *expr) for expr in _masquerade(config)]
    # a packet the router sends itself over loopback passes output, then prerouting
    out += [rule("cpre", match({"meta": {"key": "iif"}}, "lo", "!="),
                 {"jump": {"target": n["count"]}}),
            rule("cout", {"jump": {"target": n["count"]}})]
    out += [rule("count", *expr) for expr in _counting(config, n)]
    return out


def removal(config: ServiceConfig) -> list[dict[str, Any]]:
    """The service's chains, counters and sets, each its own command (a missing one
    stops nothing); the base chains first, so nothing jumps to what goes."""
    family, table = OWN_TABLE
    n = names(config)
    where = {"family": family, "table": table}
    out = [{"delete": {"chain": {**where, "name": n[k]}}}
           for k in ("pre", "out", "post", "chain", "cpre", "cout", "count")]
    out += [{"delete": {"counter": {**where, "name": n[k]}}} for k in COUNTERS]
    return out + [{"delete": {"set": {**where, "name": n[k]}}}
                  for k in ("total", "ip4", "ip6", "rate4", "rate6")]


def _sets(config: ServiceConfig, n: dict[str, str]) -> list[dict[str, Any]]:
    """The sets the rules use, and only those: the kernel makes a set dynamic (a rule
    may add to it) only when it comes in one transaction with such a rule, and a set
    made earlier without one would refuse it later (EOPNOTSUPP)."""
    limits, versions = config.limits, families(config)
    size = {"size": SET_SIZE}
    out: list[dict[str, Any]] = []
    if limits.conn_limit:
        out.append({"name": n["total"], "type": "inet_service", **size})
    for version in versions:
        kind = "ipv4_addr" if version == 4 else "ipv6_addr"
        if limits.per_ip_limit:
            out.append({"name": n[f"ip{version}"], "type": kind, **size})
        if limits.per_ip_rate:      # a bucket unused for an hour is full again: forgotten
            out.append({"name": n[f"rate{version}"], "type": kind, "flags": ["timeout"],
                        "timeout": 3600, **size})
    if config.ban is not None:      # the ban sets, as bannft makes them, used here too
        out += [{"name": s.name, "type": s.type, "flags": ["timeout"]}
                for s in ban_specs(config.ban)]
    return out


def _entry(config: ServiceConfig) -> list[dict[str, Any]]:
    """A new flow to the service: its protocol and port on one of our addresses."""
    expr = [match({"meta": {"key": "l4proto"}}, config.protocol),
            match(payload("th", "dport"), config.listen.port),
            match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")]
    if config.listen.host not in WILDCARDS:
        version = ipaddress.ip_address(config.listen.host).version
        expr.append(match(payload("ip" if version == 4 else "ip6", "daddr"),
                           config.listen.host))
    return expr


def _refuse(config: ServiceConfig, group: int, reason: str) -> list[dict[str, Any]]:
    # queue-threshold 1: each refusal reaches the daemon at once (the default batches
    # them until a later one or a timer, and a strike would come a refusal late)
    return [{"log": {"prefix": f"{PREFIX} {config.name} {reason}", "group": group,
                     "queue-threshold": 1}},
            {"drop": None}]


def _admission(config: ServiceConfig, blacklist: tuple[Network, ...], n: dict[str, str],
               group: int) -> list[list[Any]]:
    limits = config.limits
    rules: list[list[Any]] = []
    for version in families(config):
        ip = "ip" if version == 4 else "ip6"
        saddr = payload(ip, "saddr")
        nfproto = match({"meta": {"key": "nfproto"}}, f"ipv{version}")
        if config.ban is not None:
            rules += [[nfproto, match(source, "@" + name), {"counter": None}, {"drop": None}]
                      for v, source, name in ban_sources(config.ban) if v == version]
        listed = [_element(net) for net in blacklist if net.version == version]
        if listed:
            rules.append([nfproto, match(saddr, {"set": listed}),
                          *_refuse(config, group, "blacklist")])
        if limits.conn_limit:
            rules.append([nfproto, _counted(payload("th", "dport"), n["total"],
                                            limits.conn_limit),
                          *_refuse(config, group, "conn_limit")])
        if limits.per_ip_limit:
            rules.append([nfproto, _counted(saddr, n[f"ip{version}"], limits.per_ip_limit),
                          *_refuse(config, group, "per_ip_limit")])
        if limits.per_ip_rate:
            amount, per = rate(limits.per_ip_rate)
            limit = {"limit": {"rate": amount, "per": per, "burst": max(1, amount),
                               "inv": True}}
            rules.append([nfproto, {"set": {"op": "update", "elem": saddr,
                                            "set": "@" + n[f"rate{version}"], "stmt": [limit]}},
                          *_refuse(config, group, "per_ip_rate")])
        rules.append([nfproto, match({"meta": {"key": "l4proto"}}, config.protocol),
                      {"counter": n["new"]}, {"dnat": {"family": ip, "addr": config.backend.host,
                                "port": config.backend.port}}])
    return rules


def _counted(key: Any, set_name: str, limit: int) -> dict[str, Any]:
    return {"set": {"op": "add", "elem": key, "set": "@" + set_name,
                    "stmt": [{"ct count": {"val": limit, "inv": True}}]}}


def _element(network: Network) -> Any:
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}


def _ours(config: ServiceConfig, version: int) -> list[dict[str, Any]]:
    """A packet of one of the service's forwarded flows, either way."""
    ip = "ip" if version == 4 else "ip6"
    return [match({"meta": {"key": "nfproto"}}, f"ipv{version}"),
            match({"meta": {"key": "l4proto"}}, config.protocol),
            match({"ct": {"key": "status"}}, "dnat", "in"),
            match({"ct": {"key": "proto-dst", "dir": "original"}}, config.listen.port),
            match({"ct": {"key": f"{ip} saddr", "dir": "reply"}}, config.backend.host)]


def _counting(config: ServiceConfig, n: dict[str, str]) -> list[list[Any]]:
    """Bytes and packets both ways, whatever becomes of the flows: every packet enters
    through prerouting or output, after NAT there (so a flow's first packet counts)."""
    return [[*_ours(config, version),
             match({"ct": {"key": "direction"}}, direction), {"counter": n[key]}]
            for version in families(config)
            for direction, key in (("original", "up"), ("reply", "down"))]


def _masquerade(config: ServiceConfig) -> list[list[Any]]:
    """Flows from other hosts leave for the backend from the router's address; the
    router's own keep theirs (a loopback backend could not answer another one)."""
    rules: list[list[Any]] = []
    for version in families(config):
        rules.append([*_ours(config, version),
                      match({"fib": {"result": "type", "flags": ["saddr"]}}, "local", "!="),
                      {"masquerade": None}])
    return rules
