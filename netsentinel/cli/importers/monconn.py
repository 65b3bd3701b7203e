"""monconn's service config (YAML or JSON) and its ``-p``/``-c``/``-D`` flags → ``forward:``.

monconn applied a timeout or limit only when it was above zero, so ``0`` meant
"monconn's default" for timeouts (600/600/60/900 s) and "none" for limits;
netsentinel's ``0`` disables a timeout, so a zero timeout is left out here.
Exact to cli/monconn: ``keepalive`` is off unless the file says true (setDefault),
``ip_limit`` N admits N+1 IPs (``ipCount > IPLimit``), and ``-p`` is ignored when a
config file is read.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from netsentinel.cli.importers import (
    ARGV,
    Reader,
    argv_problem,
    refuse_problems,
    split_args,
    unknown_keys,
)
from netsentinel.cli.importers.emit import Document
from netsentinel.forward.config import NAME, from_option, listen_endpoint
from netsentinel.schema import (
    ConfigError,
    Problem,
    Section,
    _Invalid,
    boolean,
    integer,
    invalid,
    ip_network,
    list_of,
)

USAGE = "import monconn [CONFIG] [-- [-c CONFIG] [-p LISTEN=BACKEND]... [-D]]"
TIMEOUTS = {"read_timeout": 600, "write_timeout": 600, "wait_timeout": 60, "max_idle": 900}
MAX_IP_LIMIT = 64       # monconn's IPBucket max: Add() refuses once Count() > 64, so 65 IPs


def convert(args: list[str], read: Reader) -> str:
    files, options = split_args(args, USAGE)
    specs: list[tuple[int, str]] = []
    debug = False
    offset = len(files) + 2          # position of options[0] among the words after the tool name
    i = 0
    while i < len(options):
        word = options[i].replace("--", "-", 1) if options[i].startswith("--") else options[i]
        flag, eq, value = word.partition("=") if word[:3] in ("-p=", "-c=", "-D=") else (word, "", "")
        if flag in ("-p", "-c") and not eq:
            if i + 1 >= len(options):
                raise argv_problem(offset + i, flag, "needs a value")
            i += 1
            value = options[i]
        if flag == "-p":
            specs.append((offset + i, value))
        elif flag == "-c":
            files.append(value)
        elif flag == "-D":
            debug = value.lower() not in ("false", "0")
        else:
            raise argv_problem(offset + i, options[i], f"not a monconn flag; {USAGE}")
        i += 1
    if not files and not specs:
        raise argv_problem(1, "CONFIG", f"give monconn's config file or -p flags; {USAGE}")
    if len(files) > 1:
        raise argv_problem(1, "CONFIG", "monconn reads one config file")
    config = (read(files[0]), files[0]) if files else None
    return convert_text(config, specs, debug)


def _port(value: Any) -> int:
    """monconn kept ports as strings; YAML may give either."""
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise invalid(f"expected a port 1-65535, got {value!r}")
    return int(text)


def _host(value: Any) -> str:
    """An address: a backend name would be resolved on the reactor thread at each connect."""
    text = "" if value is None else str(value).strip()
    if text == "":
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise invalid(f"not an IP address: {text!r} (write the address a name resolves to)") from None


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@attrs.frozen
class _Service:
    """One forwarder as it will be written: (key, value, note) in order, then notes."""

    name: str
    values: list[tuple[str, Any, str | None]]
    notes: list[str]

    @property
    def listen(self) -> str:
        return str(self.values[0][1])


def _service(name: str, s: Section) -> _Service:
    if not NAME.match(name):
        s.problem(f"netsentinel service names are letters, digits, '_', '.', '-': {name!r}")
    listen = _join(s.get("listen_ip", _host, ""), s.get("listen_port", _port) or 0)
    backend = _join(s.get("backend_ip", _host, "") or "127.0.0.1", s.get("backend_port", _port) or 0)
    every = " (no listen_ip: every address, IPv4 and IPv6)" if listen.startswith(":") else ""
    values: list[tuple[str, Any, str | None]] = [
        ("listen", listen, "listen_ip + listen_port" + every),
        ("backend", backend, "backend_ip + backend_port")]
    notes = []
    for key, default in TIMEOUTS.items():
        seconds = s.get(key, integer(0, 86400 * 365), 0)
        if seconds:
            values.append((key, seconds, None))
        elif s.has(key):
            notes.append(f"{key}: 0 meant monconn's default {default} s, so it is left out "
                         "(netsentinel's 0 disables it)")
    if limit := s.get("conn_limit", integer(0, 1_000_000), 0):
        values.append(("conn_limit", limit, None))
    _ip_limit(s.get("ip_limit", integer(0, 1_000_000), 0), values, notes)
    keepalive = s.get("keepalive", boolean, None)
    values.append(("keepalive", bool(keepalive), None if keepalive is not None else
                   "keepalive absent: monconn's setDefault turned it off"))
    if (flag := s.get("print_bytes", boolean, None)) is not None:
        values.append(("print_bytes", flag, None))
    if blacklist := s.get("ip_blacklist", _blacklist, ()):
        values.append(("ip_blacklist", list(blacklist), None))
    return _Service(name, values, notes + unknown_keys(s))


def _ip_limit(limit: int, values: list[tuple[str, Any, str | None]], notes: list[str]) -> None:
    """monconn refused a new client IP only once ``ipCount > IPLimit``: N admitted N+1.
    Its IP bucket stops counting at 65 IPs, so a limit above 64 never refused anyone."""
    if not limit:
        return
    if limit > MAX_IP_LIMIT:
        notes.append(f"ip_limit {limit}: not imported: monconn's IP bucket counts at most "
                     f"{MAX_IP_LIMIT + 1} IPs (MaxIPLimit {MAX_IP_LIMIT}), so this limit never "
                     "refused a client; no limit, as in monconn")
        return
    values.append(("ip_limit", limit + 1, f"monconn ip_limit {limit}: it admitted {limit + 1} "
                   "IPs (ipCount > IPLimit)"))


def _blacklist(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
                 for n in list_of(ip_network)(value))


def _option(position: int, spec: str) -> _Service:
    """``-p LISTEN=BACKEND``, read as ``--forward`` reads it (and named alike)."""
    try:
        name = from_option(spec).name
    except _Invalid as e:
        raise ConfigError([Problem(ARGV, position, "-p", str(e))]) from None
    listen, _, backend = spec.partition("=")
    return _Service(name, [("listen", listen, None), ("backend", backend, None),
                           ("keepalive", False, "monconn's -p services ran without keepalive")],
                    [f"-p {spec}: named as `--forward` names it; every other setting at its "
                     "default"])


def convert_text(config: tuple[str, str] | None, specs: list[tuple[int, str]],
                 debug: bool = False) -> str:
    services: list[_Service] = []
    source = "the monconn command line"
    if config is not None:
        text, source = config
        root = Section.from_text(text, source)
        services = [_service(name, section) for name, section in root.sections()]
        refuse_problems(root)
    options = [_option(position, spec) for position, spec in specs]
    if config is None:
        services = options
    owners: dict[Any, str] = {}
    for service in services:
        where = listen_endpoint(service.listen)
        if where in owners:
            raise ConfigError([Problem(source, 0, service.name, f"listens on {service.listen} "
                                       f"like {owners[where]}")])
        owners[where] = service.name

    doc = Document()
    doc.comment(f"netsentinel `forward:` imported from {source}\n"
                "by `netsentinel-ctl import monconn`; check it with "
                "`netsentinel-ctl check-config FILE`.")
    doc.key("forward", 0)
    for service in services:
        doc.key(service.name, 1, f"`forward stats {service.name}`, `reject {service.name} IP`")
        for key, value, note in service.values:
            doc.value(key, value, 2, note)
        for note in service.notes:
            doc.comment(note, 2)
    if config is not None and options:
        doc.comment("-p " + " -p ".join(spec for _, spec in specs) + ": not imported: with a "
                    "config file monconn ignored -p\n(\"using config file, -p params will be "
                    "ignored.\")", 1)
    elif options:
        doc.comment("monconn used -p only when its -c file (default ./config.yaml) could not be "
                    "read or parsed;\nif it had one, import that file instead.", 1)
    if debug:
        doc.comment("-D (debug log): `log_connections: true` logs each open and close; "
                    "`netsentinel-ctl watch` shows every event.", 1)
    return doc.text()
