"""The ``forward:`` section and the ``--forward LISTEN=BACKEND`` options, as frozen values.

Limits and timeouts live in their own value objects so that a reload can tell
"only these changed" (applied in place, connections kept) from a change of
address (the listener is rebuilt).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.schema import (
    Endpoint,
    Problem,
    Section,
    _Invalid,
    boolean,
    choice,
    endpoint,
    integer,
    invalid,
    ip_network,
    list_of,
    listen_endpoint,
    number,
    string,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@attrs.frozen
class Limits:
    """Admission limits; 0 means none."""

    conn_limit: int = 0
    conn_limit_action: str = "wait"      # wait: stop accepting; reject: accept and close
    ip_limit: int = 0
    per_ip_limit: int = 0
    per_ip_rate: float = 0.0


@attrs.frozen
class Timeouts:
    """Seconds; 0 disables (wait_timeout 0 closes at once on stop)."""

    read: float = 600.0
    write: float = 600.0
    max_idle: float = 900.0
    connect: float = 10.0
    wait: float = 60.0
    fin: float = 60.0


@attrs.frozen
class NftSetRef:
    family: str
    table: str
    name: str       # IPv4 entries; IPv6 entries go to ``name + "6"``

    @property
    def name6(self) -> str:
        return self.name + "6"


OWN_TABLE = ("inet", "netsentinel")     # the table netsentinel creates for ban rules
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@attrs.frozen
class BanConfig:
    """``ban:``: ``after`` rejections of one client within ``window`` seconds put it in
    the nft set ``set`` (``set6`` for IPv6) for ``duration`` seconds.  Without ``table``
    netsentinel owns the drop rule (in ``inet netsentinel``); with it, the user's rules
    reference the sets."""

    after: int = 20
    window: float = 60.0
    duration: int = 3600
    set: str = "ban"
    table: tuple[str, str] | None = None
    ipv6_prefix: int = 128
    never_ban: tuple[Network, ...] = LOOPBACK

    @property
    def set6(self) -> str:
        return self.set + "6"

    @property
    def set6_prefix(self) -> str | None:
        """IPv6 prefixes (``ipv6_prefix`` < 128), their first addresses: the rule masks."""
        return self.set + "6p" if self.ipv6_prefix < 128 else None

    @property
    def where(self) -> tuple[str, str]:
        return self.table or OWN_TABLE


@attrs.frozen
class ServiceConfig:
    name: str
    listen: Endpoint
    backend: Endpoint
    protocol: str = "tcp"
    session_idle: float = 120.0
    ban: BanConfig | None = None
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    blacklist: tuple[Network, ...] = ()
    blacklist_set: NftSetRef | None = None
    keepalive: bool = True
    nodelay: bool = True
    print_bytes: bool = False
    print_bytes_max: int = 256
    send_proxy: str | None = None
    log_connections: bool = False
    backlog: int = 1024
    freebind: bool = False          # IP_FREEBIND: listen before the address exists
    mode: str = "relay"             # relay: through the daemon; kernel: nft DNAT

    def same_listener(self, other: ServiceConfig) -> bool:
        """True when ``other`` can be adopted by the running listener."""
        return (self.listen, self.backlog, self.protocol, self.freebind, self.mode) == \
            (other.listen, other.backlog, other.protocol, other.freebind, other.mode)


WILDCARDS = ("0.0.0.0", "::")      # listen addresses that take every local address

# the workers' nice value (nginx's ``worker_priority``): above 0 the main process
# (accepting, admitting, the control socket) gets the CPU first on a busy box, at the
# cost of the relayed connections' latency (docs/forward.md has the figures)
WORKER_PRIORITY = 0
LOG_GROUP = 6301        # the NFLOG group mode: kernel services log their refusals to
SECTION_KEYS = ("workers", "worker_priority", "log_group")  # forward: keys, not services

# what only a relay does: refused with ``mode: kernel``, each with the reason
RELAY_ONLY = {
    "print_bytes": "the kernel forwards the bytes: there is nothing to dump",
    "print_bytes_max": "the kernel forwards the bytes: there is nothing to dump",
    "send_proxy": "a PROXY header needs a relay that writes it",
    "ip_limit": "nft cannot count distinct clients; use per_ip_limit and conn_limit",
    "conn_limit_action": "the kernel drops a flow over conn_limit (no accept queue to wait in)",
    "blacklist_set": "use ip_blacklist (written into the service's own rules)",
    "read_timeout": "conntrack times flows out (net.netfilter.nf_conntrack_*_timeout*)",
    "write_timeout": "conntrack times flows out (net.netfilter.nf_conntrack_*_timeout*)",
    "max_idle": "conntrack times flows out (net.netfilter.nf_conntrack_*_timeout*)",
    "connect_timeout": "the client's own connect reaches the backend",
    "fin_timeout": "conntrack times flows out (net.netfilter.nf_conntrack_*_timeout*)",
    "wait_timeout": "a stop leaves the open flows to conntrack: nothing to wait for",
    "session_idle": "conntrack times flows out (net.netfilter.nf_conntrack_udp_timeout_stream)",
    "keepalive": "socket options of a relay",
    "nodelay": "socket options of a relay",
    "backlog": "nothing listens: the kernel forwards",
    "freebind": "nothing listens: the rules match any local address",
}


@attrs.frozen
class ForwardConfig:
    services: tuple[ServiceConfig, ...] = ()
    workers: int = 1        # relaying processes; 1: the main process relays, as always
    worker_priority: int = WORKER_PRIORITY
    log_group: int = LOG_GROUP

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)


def _nft_set(value: Any) -> NftSetRef:
    parts = string(value).split()
    if len(parts) != 3 or parts[0] not in ("inet", "ip", "ip6", "bridge", "netdev"):
        raise invalid(f"expected 'FAMILY TABLE SET' such as 'inet filter ns_block', got {value!r}")
    return NftSetRef(*parts)


def _table(value: Any) -> tuple[str, str]:
    parts = string(value).split()
    if len(parts) != 2 or parts[0] not in ("inet", "ip", "ip6", "bridge", "netdev"):
        raise invalid(f"expected 'FAMILY TABLE' such as 'inet filter', got {value!r}")
    return parts[0], parts[1]


def _set_name(value: Any) -> str:
    text = string(value)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,60}$", text):
        raise invalid(f"expected a set name of letters, digits and '_', got {value!r}")
    return text


def _ban(name: str, section: Section) -> BanConfig | None:
    if not section.has("ban"):
        return None
    entry = section.section("ban")
    ban = BanConfig(
        after=entry.get("after", integer(1, 1_000_000), 20),
        window=entry.get("window", number(0.001, 86400 * 7), 60.0),
        duration=entry.get("for", integer(1, 86400 * 365), 3600),
        set=entry.get("set", _set_name, "ban_" + re.sub(r"[^A-Za-z0-9_]", "_", name)),
        table=entry.get("table", _table, None),
        ipv6_prefix=entry.get("ipv6_prefix", integer(16, 128), 128),
        never_ban=entry.get("never_ban", list_of(ip_network), LOOPBACK))
    entry.done()
    return ban


def _service(name: str, section: Section) -> ServiceConfig:
    if not NAME.match(name):
        section.problem(f"service name must be letters, digits, '_', '.', '-', got {name!r}")
    seconds = number(0, 86400 * 365)
    limits = Limits(
        conn_limit=section.get("conn_limit", integer(0, 1_000_000), 0),
        conn_limit_action=section.get("conn_limit_action", choice("wait", "reject"), "wait"),
        ip_limit=section.get("ip_limit", integer(0, 1_000_000), 0),
        per_ip_limit=section.get("per_ip_limit", integer(0, 1_000_000), 0),
        per_ip_rate=section.get("per_ip_rate", number(0, 1_000_000), 0.0),
    )
    timeouts = Timeouts(
        read=section.get("read_timeout", seconds, 600.0),
        write=section.get("write_timeout", seconds, 600.0),
        max_idle=section.get("max_idle", seconds, 900.0),
        connect=section.get("connect_timeout", number(0.001, 3600), 10.0),
        wait=section.get("wait_timeout", seconds, 60.0),
        fin=section.get("fin_timeout", seconds, 60.0),
    )
    config = ServiceConfig(
        name=name,
        listen=section.get("listen", listen_endpoint),
        backend=section.get("backend", endpoint),
        protocol=section.get("protocol", choice("tcp", "udp"), "tcp"),
        session_idle=section.get("session_idle", number(0.001, 86400 * 7), 120.0),
        ban=_ban(name, section),
        limits=limits,
        timeouts=timeouts,
        blacklist=section.get("ip_blacklist", list_of(ip_network), ()),
        blacklist_set=section.get("blacklist_set", _nft_set, None),
        keepalive=section.get("keepalive", boolean, True),
        nodelay=section.get("nodelay", boolean, True),
        print_bytes=section.get("print_bytes", boolean, False),
        print_bytes_max=section.get("print_bytes_max", integer(16, 1 << 20), 256),
        send_proxy=section.get("send_proxy", _proxy_version, None),
        log_connections=section.get("log_connections", boolean, False),
        backlog=section.get("backlog", integer(1, 65535), 1024),
        freebind=section.get("freebind", boolean, False),
        mode=section.get("mode", choice("relay", "kernel"), "relay"),
    )
    if config.mode == "kernel":
        _kernel_checks(section, config)
    section.done()
    return config


def _kernel_checks(section: Section, config: ServiceConfig) -> None:
    """``mode: kernel``: the keys only a relay can honour, and a backend nft can DNAT to."""
    for key in section.keys():
        if key in RELAY_ONLY:
            section.problem(f"not with mode: kernel: {RELAY_ONLY[key]}",
                            section.line_of(key), key)
    if config.ban is not None and config.ban.table is not None:
        section.problem("not with mode: kernel: the service's own rules drop banned "
                        "clients, from sets in netsentinel's table",
                        section.line_at(["ban", "table"]), "ban.table")
    if config.backend is None or config.listen is None:
        return
    try:
        backend = ipaddress.ip_address(config.backend.host)
    except ValueError:
        section.problem("mode: kernel needs an IP address (nft DNATs to an address, "
                        f"not a name), got {config.backend.host!r}",
                        section.line_of("backend"), "backend")
        return
    if config.listen.host not in WILDCARDS and \
            ipaddress.ip_address(config.listen.host).version != backend.version:
        section.problem("mode: kernel cannot forward between IPv4 and IPv6 (listen "
                        f"{config.listen.host}, backend {backend})",
                        section.line_of("backend"), "backend")


def _proxy_version(value: Any) -> str | None:
    if value is None:
        return None
    return choice("v1", "v2")(value)


def from_option(spec: str) -> ServiceConfig:
    """``[udp:]LISTEN=BACKEND`` (monconn's ``-p``), with every default; named
    ``cli-<port>`` (``cli-udp-<port>`` for UDP)."""
    protocol = "udp" if spec.startswith("udp:") else "tcp"
    listen, sep, backend = spec.removeprefix("udp:").removeprefix("tcp:").partition("=")
    if not sep:
        raise invalid(f"expected LISTEN=BACKEND such as :2222=127.0.0.1:22, got {spec!r}")
    where = listen_endpoint(listen)
    name = f"cli-{where.port}" if protocol == "tcp" else f"cli-udp-{where.port}"
    return ServiceConfig(name, where, endpoint(backend), protocol)


def parse(section: Section, options: Mapping[str, Any]) -> ForwardConfig | None:
    specs = tuple(options.get("forward", ()))
    if not section.keys() and not specs:
        return None
    workers = section.get("workers", _workers, 1)
    priority = section.get("worker_priority", integer(-20, 19), WORKER_PRIORITY)
    group = section.get("log_group", integer(0, 65535), LOG_GROUP)
    services = [_service(name, section.section(name)) for name in section.keys()
                if name not in SECTION_KEYS]
    for spec in specs:
        try:
            services.append(from_option(spec))
        except _Invalid as e:
            section.problems.append(Problem("--forward", 0, "forward", str(e)))
    _check_unique(section, services)
    section.done()
    return ForwardConfig(tuple(services), workers, priority, group)


def _workers(value: Any) -> int:
    """``auto``: one per core; the main process admits, the workers relay."""
    if value == "auto":
        return os.cpu_count() or 1
    return integer(1, 256)(value)


def _listen_key(service: ServiceConfig) -> str | None:
    if service.listen is None:
        return None
    return str(service.listen) + (" (udp)" if service.protocol == "udp" else "")


def _check_unique(section: Section, services: list[ServiceConfig]) -> None:
    seen: dict[Any, str] = {}
    for service in services:
        keys: list[tuple[str, Any]] = [("name", service.name),
                                       ("listen", _listen_key(service))]
        if service.blacklist_set is not None:
            keys.append(("blacklist_set", service.blacklist_set))
        if service.ban is not None:
            keys.append(("ban set", " ".join((*service.ban.where, service.ban.set))))
        for kind, key in keys:
            if key is None:             # missing: already reported as such
                continue
            if key in seen:
                section.problem(f"{kind} {key} is also used by {seen[key]}",
                                section.line_of(service.name), service.name)
            seen.setdefault(key, service.name)
