"""Containers as the Engine API lists them, and the sets and events derived from them (pure)."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from netsentinel.docker.config import ZoneRule
from netsentinel.docker.report import ContainerStatus
from netsentinel.nft.sets import SetSpec, address_sets

COMPOSE_PROJECT = "com.docker.compose.project"


@attrs.frozen
class Container:
    id: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    networks: tuple[tuple[str, tuple[str, ...]], ...] = ()   # network name → its addresses

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(sorted({ip for _, ips in self.networks for ip in ips}))

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)

    def status(self) -> ContainerStatus:
        return ContainerStatus(self.id[:12], dict(self.labels), dict(self.networks))


def from_api(item: Mapping[str, Any]) -> Container:
    """One entry of ``GET /containers/json``: it already holds names, labels and each
    network's addresses, so no per-container inspect is needed."""
    names = item.get("Names") or [item["Id"][:12]]
    networks = []
    for network, settings in sorted(((item.get("NetworkSettings") or {}).get("Networks")
                                     or {}).items()):
        ips = tuple(_address(settings.get(key)) for key in ("IPAddress", "GlobalIPv6Address"))
        networks.append((network, tuple(ip for ip in ips if ip)))
    return Container(item["Id"], names[0].lstrip("/"),
                     tuple(sorted((item.get("Labels") or {}).items())), tuple(networks))


def _address(value: Any) -> str:
    if not value:
        return ""
    return str(ipaddress.ip_address(value))


def matches(rule: ZoneRule, container: Container) -> bool:
    """Every kind of selector the rule gives must match; within a kind, any entry."""
    if rule.names and not any(fnmatch.fnmatchcase(container.name, n) for n in rule.names):
        return False
    if rule.labels and not any(_has_label(container, label) for label in rule.labels):
        return False
    if rule.projects and container.label(COMPOSE_PROJECT) not in rule.projects:
        return False
    return True


def _has_label(container: Container, selector: str) -> bool:
    key, equals, value = selector.partition("=")
    found = container.label(key)
    return found is not None and (not equals or found == value)


def zone_addresses(rule: ZoneRule, containers: Iterable[Container]) -> set[str]:
    chosen: set[str] = set()
    for container in containers:
        if matches(rule, container):
            for network, ips in container.networks:
                if not rule.networks or network in rule.networks:
                    chosen.update(ips)
    return chosen


def zone_specs(rules: Iterable[ZoneRule]) -> list[SetSpec]:
    return [spec for rule in rules for spec in address_sets(rule.zone)]


def desired_sets(rules: Iterable[ZoneRule],
                 containers: Iterable[Container]) -> dict[SetSpec, frozenset[str]]:
    listed = list(containers)
    desired: dict[SetSpec, frozenset[str]] = {}
    for rule in rules:
        addresses = [ipaddress.ip_address(a) for a in zone_addresses(rule, listed)]
        for spec in address_sets(rule.zone):
            desired[spec] = frozenset(str(a) for a in addresses if a.version == spec.version)
    return desired


NetworkKey = tuple[str, str]   # (container id, network name, or LISTED or ANY_NETWORK)
LISTED = ""          # the container itself: 1 = must be listed (running)
ANY_NETWORK = "*"    # Podman names no network: how many networks the container must be on


def network_change(event: Mapping[str, Any]) -> tuple[NetworkKey, bool] | None:
    """A network ``connect``/``disconnect`` event as ((container id, network), connected).

    Docker's actor is the network: ``Attributes`` name the container and the network.
    Podman's actor is the container, and no field names the network: the key's network
    is then ``ANY_NETWORK``."""
    if event.get("Type") != "network" or event.get("Action") not in ("connect", "disconnect"):
        return None
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    if "container" in attributes:
        container, network = attributes.get("container"), attributes.get("name")
    else:
        container, network = actor.get("ID"), ANY_NETWORK
    if not container or not network:
        return None
    return (str(container), str(network)), event["Action"] == "connect"


def expect(expected: Mapping[NetworkKey, int], event: Mapping[str, Any],
           containers: Mapping[str, Container]) -> dict[NetworkKey, int]:
    """What listings must show after ``event`` (see :func:`lagging`), given the last listing.

    A network (dis)connect: Docker and Podman both send it before their listing has it.
    A container ``start``: Podman sends it before its listing has the container running
    (Docker after); its ``die`` ends the wait.  Podman's network events name no network,
    so the container's network count must move by one from the last listing (or from
    what earlier events already expect)."""
    found = dict(expected)
    actor = event.get("Actor") or {}
    if event.get("Type") == "container" and event.get("Action") in ("start", "die"):
        container = str(actor.get("ID") or event.get("id") or "")
        if event["Action"] == "start" and container:
            found[container, LISTED] = 1
        else:
            found.pop((container, LISTED), None)
        return found
    change = network_change(event)
    if change is None:
        return found
    key, connected = change
    if key[1] != ANY_NETWORK:
        found[key] = connected
    elif key in found or key[0] in containers:
        count = found[key] if key in found else len(containers[key[0]].networks)
        found[key] = max(0, count + (1 if connected else -1))
    return found


def lagging(expected: Mapping[NetworkKey, int],
            containers: Mapping[str, Container]) -> dict[NetworkKey, int]:
    """The changes announced by events that a listing does not show yet.

    Docker sends a network event before the listing it serves reflects the change, so a
    listing taken on the event can be the old one (Podman does the same, and also with a
    container start).  A container that is not listed (not running) has no addresses to
    wait for.
    """
    return {key: want for key, want in expected.items() if not _shows(key, want, containers)}


def _shows(key: NetworkKey, want: int, containers: Mapping[str, Container]) -> bool:
    container, network = containers.get(key[0]), key[1]
    if network == LISTED:
        return (container is not None) == bool(want)
    if container is None:
        return True
    if network == ANY_NETWORK:
        return len(container.networks) == want
    return bool(want) == any(name == network for name, _ in container.networks)


@attrs.frozen
class ContainerChange:
    kind: str                 # "up", "down", "changed" (addresses differ)
    container: Container


def changes(old: Mapping[str, Container], new: Mapping[str, Container]) -> list[ContainerChange]:
    """What happened between two listings, keyed by container id; a rename alone is no change."""
    found = [ContainerChange("down", old[cid]) for cid in sorted(old) if cid not in new]
    for cid in sorted(new):
        before = old.get(cid)
        if before is None:
            found.append(ContainerChange("up", new[cid]))
        elif before.ips != new[cid].ips:
            found.append(ContainerChange("changed", new[cid]))
    return found
