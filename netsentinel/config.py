"""The whole YAML file → one frozen :class:`Config`, or a :class:`ConfigError`.

Every feature parses its own section; this module owns only the keys shared by
all of them and the rule that the file is refused as a whole.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from netsentinel.features import Feature, SetClaim, load_features
from netsentinel.forward.config import Endpoint, listen_endpoint
from netsentinel.schema import (
    ConfigError,
    Problem,
    Section,
    boolean,
    integer,
    number,
    string,
)

DEFAULT_CONFIG = "/etc/netsentinel/netsentinel.yaml"
DEFAULT_SOCKET = "/run/netsentinel.sock"
MAX_HISTORY = 86400     # a day of graphs at most
MAX_POINTS = 1441       # samples a graph's series keeps: a day at one a minute, 4 h at 10 s


@attrs.frozen
class ControlConfig:
    socket: str = DEFAULT_SOCKET
    mode: int = 0o600
    metrics: Endpoint | None = None     # HTTP /metrics for Prometheus; off by default
    status_page: bool = False           # also / and /status.json on that listener; opt-in
    datagram_socket: str | None = None  # IPMon's /run/ipmon.sock: one command per datagram
    history: int = 3600                 # seconds of graphs on the status page; 0: none
    history_every: int = 10             # seconds between two samples of the graphs
    priority: int | None = None         # the main process's nice value; None: as started


@attrs.frozen
class ActionsConfig:
    timeout: float = 30.0
    concurrency: int = 4
    queue: int = 100


@attrs.frozen
class Config:
    file: str
    control: ControlConfig
    actions: ActionsConfig
    features: Mapping[str, Any]     # feature key → its frozen config (absent: not configured)


def parse_control(section: Section) -> ControlConfig:
    config = ControlConfig(
        socket=section.get("socket", string, DEFAULT_SOCKET),
        mode=section.get("mode", integer(0, 0o777), 0o600),
        metrics=section.get("metrics", listen_endpoint, None),
        status_page=section.get("status_page", boolean, False),
        datagram_socket=section.get("datagram_socket", string, None),
        history=section.get("history", integer(0, MAX_HISTORY), 3600),
        history_every=section.get("history_every", integer(1, 3600), 10),
        priority=section.get("priority", integer(-20, 19), None),
    )
    if config.datagram_socket == config.socket:
        section.problem("must differ from control.socket (a stream socket)",
                        section.line_of("datagram_socket"), "datagram_socket")
    if config.status_page and not section.has("metrics"):
        section.problem("needs control.metrics: the address the page is served on",
                        section.line_of("status_page"), "status_page")
    _check_history(section, config)
    section.done()
    return config


def _check_history(section: Section, config: ControlConfig) -> None:
    """The graphs' ring buffers hold at most MAX_POINTS samples a series (docs/status-page.md)."""
    if 0 < config.history < 60:
        section.problem("at least 60 seconds (0 turns the graphs off)",
                        section.line_of("history"), "history")
    elif config.history and history_points(config.history, config.history_every) > MAX_POINTS:
        section.problem(f"{config.history} s at one sample every {config.history_every} s is "
                        f"more than {MAX_POINTS} points: raise history_every",
                        section.line_of("history"), "history")
    for key in ("history", "history_every"):
        if section.has(key) and not config.status_page:
            section.problem("needs control.status_page: the graphs are on that page",
                            section.line_of(key), key)


def history_points(history: int, every: int) -> int:
    """Samples a series keeps: the window plus the sample at its start."""
    return -(-history // every) + 1


def parse_actions(section: Section) -> ActionsConfig:
    config = ActionsConfig(
        timeout=section.get("timeout", number(0.1, 3600), 30.0),
        concurrency=section.get("concurrency", integer(1, 64), 4),
        queue=section.get("queue", integer(1, 10000), 100),
    )
    section.done()
    return config


def parse_config(text: str, file: str, options: Mapping[str, Any] | None = None,
                 features: list[Feature] | None = None) -> Config:
    """Parse and validate ``text``; raise ConfigError listing every problem."""
    root = Section.from_text(text, file)
    options = options or {}
    control = parse_control(root.section("control"))
    actions = parse_actions(root.section("actions"))
    parsed: dict[str, Any] = {}
    claims: list[SetClaim] = []
    for feature in features if features is not None else load_features():
        value = feature.parse(root.section(feature.key), options)
        if value is not None:
            parsed[feature.key] = value
            claims += _first_claims(feature.sets(value))
    _check_set_writers(root, claims)
    root.done()
    if root.problems:
        raise ConfigError(root.problems)
    return Config(file, control, actions, parsed)


def _first_claims(claims: Iterable[SetClaim]) -> list[SetClaim]:
    """One claim per set within a feature (two forward services naming one blacklist_set
    are that feature's own problem, reported by its parser)."""
    first: dict[str, SetClaim] = {}
    for claim in claims:
        first.setdefault(claim.set, claim)
    return list(first.values())


def _check_set_writers(root: Section, claims: list[SetClaim]) -> None:
    """Refuse two features writing one nft set: each sync would undo the other's elements."""
    writers: dict[str, SetClaim] = {}
    for claim in claims:
        first = writers.setdefault(claim.set, claim)
        if first is not claim:
            root.problem(f"nft set {claim.set} is also written by {'.'.join(first.key)} "
                         f"(line {root.line_at(first.key)}); give one of them another name",
                         root.line_at(claim.key), ".".join(claim.key))


MAX_CONFIG_BYTES = 4 * 1024 * 1024


def load_config(path: str, options: Mapping[str, Any] | None = None) -> Config:
    """Read ``path``; a missing file is allowed only when options configure something."""
    try:
        text = read_config_text(path)
    except FileNotFoundError:
        if not (options and any(options.values())):
            raise ConfigError([Problem(path, 0, "", "config file not found")]) from None
        text = ""
    return parse_config(text, os.path.abspath(path), options)


def read_config_text(path: str) -> str:
    """The file's text; a FIFO, a device, a huge file or non-UTF-8 bytes are refused
    without blocking (opened non-blocking, checked with fstat before any read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ConfigError([Problem(path, 0, "", f"cannot read: {e.strerror}")]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError([Problem(path, 0, "", "not a regular file")])
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError([Problem(path, 0, "", f"{info.st_size} bytes: larger than the "
                                       f"{MAX_CONFIG_BYTES} a config file may have")])
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError([Problem(path, 0, "", f"cannot read: {e.strerror}")]) from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8-sig")   # a BOM is allowed, as YAML allows it
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError([Problem(path, line, "", f"not UTF-8 text (byte {data[e.start]:#04x} "
                                   f"at offset {e.start})")]) from None
