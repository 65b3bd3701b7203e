"""The docker feature against Podman's Docker-compatible API: a real rootful podman service
in a lab namespace, the real daemon next to it, checked through nft (as test_daemon.py does
with dockerd).

The daemon lists at once on each event (delay 0.001): Podman sends a container ``start``
and a network ``connect`` before its listing shows them, names no network in its network
events, and is asked for ``died`` where Docker says ``die`` (docs/docker.md, Podman).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentinel.docker.containers import ANY_NETWORK, LISTED, Container, expect, lagging
from tests.docker.hostlab import EngineHost
from tests.docker.podman import Podman
from tests.lab import Lab, require, wait_for

CONFIG = """
docker:
  socket: {socket}
  delay: 0.001
  retry_max: 0.5
  nftables: {{table: inet filter, create: true}}
  zones:
    web: {{names: ["web-*"]}}
    dmz: {{labels: [fw.zone=dmz]}}
    front: {{networks: [{front}]}}
  action: {dir}/action.sh
"""

class Host(EngineHost):
    """A namespace with a private podman service, two podman networks, and the daemon."""

    def __init__(self, lab: Lab, ns: str, podman: Podman, tmp_path: Path) -> None:
        self.podman = podman
        # unique names and subnets: nothing here may meet another test's or the machine's
        net = secrets.randbelow(50)
        self.front, self.back = f"front{lab.tag}", f"back{lab.tag}"
        self.subnets = (f"10.{150 + net}.1.0/24", f"fd{150 + net:02x}::/64",
                        f"10.{150 + net}.2.0/24")
        super().__init__(lab, ns, tmp_path, CONFIG.format(
            socket=podman.socket, dir=tmp_path, front=self.front))


@pytest.fixture
def podman(lab: Lab, router: str) -> Iterator[Podman]:
    """A private podman service; its containers and networks removed and it stopped even
    when the test fails."""
    require("podman", "conmon", "runc", "nsenter", "unshare")
    engine = Podman(lab, router)
    try:
        yield engine.start()
    finally:
        engine.close()


@pytest.fixture
def host(lab: Lab, router: str, podman: Podman, tmp_path: Path) -> Iterator[Host]:
    h = Host(lab, router, podman, tmp_path)
    podman.network(h.front, h.subnets[0], h.subnets[1])
    podman.network(h.back, h.subnets[2])
    h.daemon.start()
    wait_for(lambda: h.docker()["connected"], what="daemon connected to podman")
    yield h


def test_started_container_enters_its_set_and_leaves_when_stopped(host: Host) -> None:
    pm = host.podman
    pm.run("web-1", host.back)
    ip = pm.ip("web-1", host.back)
    host.wait_set("web_ips", {ip})
    assert host.docker()["containers"]["web-1"]["networks"] == {host.back: [ip]}
    pm.podman("stop", "-t", "0", "web-1")      # podman's "died", sent as "die"
    host.wait_set("web_ips", set())
    pm.podman("start", "web-1")                 # sent before the listing shows it
    host.wait_set("web_ips", {pm.ip("web-1", host.back)})
    pm.podman("rm", "-f", "-t", "0", "web-1")
    host.wait_set("web_ips", set())


def test_ipv6_address_goes_to_the_ipv6_set(host: Host) -> None:
    host.podman.run("web-6", host.front)
    settings = host.podman.addresses("web-6", host.front)
    assert settings["GlobalIPv6Address"], settings
    host.wait_set("web_ipv6", {settings["GlobalIPv6Address"]})
    host.wait_set("web_ips", {settings["IPAddress"]})
    host.wait_set("front_ipv6", {settings["GlobalIPv6Address"]})


def test_network_connect_and_disconnect_follow_the_network(host: Host) -> None:
    pm = host.podman
    pm.run("svc", host.back, "--label", "fw.zone=dmz")
    host.wait_set("dmz_ips", {pm.ip("svc", host.back)})
    assert host.set("front_ips") == set()   # only addresses on 'front' count for this zone
    # podman's event names the container, not the network, and comes before the listing
    pm.podman("network", "connect", host.front, "svc")
    settings = pm.addresses("svc", host.front)
    host.wait_set("front_ips", {settings["IPAddress"]})
    host.wait_set("front_ipv6", {settings["GlobalIPv6Address"]})
    assert host.set("dmz_ips") == {pm.ip("svc", host.back), settings["IPAddress"]}
    pm.podman("network", "disconnect", host.front, "svc")
    host.wait_set("front_ips", set())
    host.wait_set("front_ipv6", set())
    host.wait_set("dmz_ips", {pm.ip("svc", host.back)})


def test_rename_moves_a_container_between_name_zones(host: Host) -> None:
    pm = host.podman
    pm.run("web-r", host.back)
    ip = pm.ip("web-r", host.back)
    host.wait_set("web_ips", {ip})
    pm.podman("rename", "web-r", "app-r")      # running: podman 4 renames it in place
    host.wait_set("web_ips", set())
    wait_for(lambda: "app-r" in host.docker()["containers"], what="app-r listed")
    pm.podman("rename", "app-r", "web-r")
    host.wait_set("web_ips", {ip})


def test_action_gets_up_and_down_with_name_and_addresses(host: Host) -> None:
    host.podman.run("web-a", host.back)
    ip = host.podman.ip("web-a", host.back)
    wait_for(lambda: f"up web-a {ip}" in host.actions(), what="action up")
    host.podman.podman("rm", "-f", "-t", "0", "web-a")
    wait_for(lambda: f"down web-a {ip}" in host.actions(), what="action down")



# Podman's event shapes, without a service (what the lab tests above rely on)

def podman_event(kind: str, action: str, container: str) -> dict[str, Any]:
    """As podman 4.3's compat API sends them: the actor is the container, and a network
    event's ``name`` is the container's name; no field names the network."""
    return {"status": action, "id": container, "Type": kind, "Action": action,
            "Actor": {"ID": container, "Attributes": {"name": "web-1", "image": ""}}}


def test_podman_network_events_expect_a_network_count() -> None:
    listed = {"c1": Container("c1", "web-1", networks=(("back", ("10.1.0.2",)),))}
    one_more = expect({}, podman_event("network", "connect", "c1"), listed)
    assert one_more == {("c1", ANY_NETWORK): 2}
    assert lagging(one_more, listed) == one_more           # the stale listing
    assert expect(one_more, podman_event("network", "disconnect", "c1"), listed) == {
        ("c1", ANY_NETWORK): 1}
    moved = {"c1": Container("c1", "web-1", networks=(("back", ("10.1.0.2",)),
                                                      ("front", ("10.0.0.2",))))}
    assert lagging(one_more, moved) == {}
    assert expect({}, podman_event("network", "connect", "c9"), listed) == {}   # not listed


def test_start_is_expected_in_the_listing_until_die() -> None:
    started = expect({}, podman_event("container", "start", "c1"), {})
    assert started == {("c1", LISTED): 1}
    assert lagging(started, {}) == started
    assert lagging(started, {"c1": Container("c1", "web-1")}) == {}
    assert expect(started, podman_event("container", "die", "c1"), {}) == {}
