"""The Docker monitor, run as the real daemon next to a real private dockerd, checked through nft."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.engine import Dockerd
from tests.docker.hostlab import EngineHost
from tests.lab import Lab, wait_for

CONFIG = """
docker:
  socket: {socket}
  delay: 0.05
  retry_max: 0.5
  nftables: {{table: inet filter, create: true}}
  zones:
    web: {{names: ["web-*"]}}
    dmz: {{labels: [fw.zone=dmz]}}
    shop: {{projects: [shop]}}
    front: {{networks: [front]}}
  action: {dir}/action.sh
"""

class Host(EngineHost):
    """A namespace with a private dockerd and the daemon watching it."""

    def __init__(self, lab: Lab, ns: str, dockerd: Dockerd, tmp_path: Path) -> None:
        self.dockerd = dockerd
        super().__init__(lab, ns, tmp_path, CONFIG.format(socket=dockerd.socket, dir=tmp_path))

    def config(self, text: str = CONFIG) -> str:
        return text.format(socket=self.dockerd.socket, dir=self.dir)


@pytest.fixture
def host(lab: Lab, router: str, dockerd: Dockerd, tmp_path: Path) -> Iterator[Host]:
    h = Host(lab, router, dockerd, tmp_path)
    dockerd.network("front", "10.77.0.0/24", "fd77::/64")
    dockerd.network("back", "10.78.0.0/24")
    h.daemon.start()
    yield h


def test_started_container_enters_its_set_and_leaves_when_stopped(host: Host) -> None:
    host.dockerd.run("web-1", "back")
    ip = host.dockerd.ip("web-1", "back")
    host.wait_set("web_ips", {ip})
    assert host.docker()["containers"]["web-1"]["networks"] == {"back": [ip]}
    metrics = host.daemon.ctl("metrics").splitlines()
    assert 'netsentinel_docker_set_elements{set="web_ips"} 1' in metrics
    assert "netsentinel_docker_connected 1" in metrics
    host.dockerd.docker("stop", "-t", "0", "web-1")
    host.wait_set("web_ips", set())
    host.dockerd.docker("start", "web-1")
    host.wait_set("web_ips", {host.dockerd.ip("web-1", "back")})
    host.dockerd.docker("rm", "-f", "web-1")
    host.wait_set("web_ips", set())


def test_ipv6_address_goes_to_the_ipv6_set(host: Host) -> None:
    host.dockerd.run("web-6", "front")
    settings = host.dockerd.addresses("web-6", "front")
    host.wait_set("web_ipv6", {settings["GlobalIPv6Address"]})
    host.wait_set("web_ips", {settings["IPAddress"]})
    host.wait_set("front_ipv6", {settings["GlobalIPv6Address"]})


def test_containers_are_chosen_by_name_label_and_compose_project(host: Host) -> None:
    host.dockerd.run("api", "back", "--label", "fw.zone=dmz")
    host.dockerd.run("db", "back", "--label", "fw.zone=lan")
    host.dockerd.run("cart", "back", "--label", "com.docker.compose.project=shop")
    host.dockerd.run("webby", "back")     # no match: the glob is web-*
    wait_for(lambda: set(host.docker()["containers"]) == {"api", "db", "cart", "webby"},
             what="all four listed")
    assert host.set("dmz_ips") == {host.dockerd.ip("api", "back")}
    assert host.set("shop_ips") == {host.dockerd.ip("cart", "back")}
    assert host.set("web_ips") == set()


def test_network_connect_and_disconnect_follow_the_network(host: Host) -> None:
    # listing at once on each event: Docker sends a network event before its listing shows
    # the change, so the first listing is stale and the daemon must list again
    host.daemon.write_config(host.config().replace("delay: 0.05", "delay: 0.001"))
    assert host.daemon.ctl("reload") == "OK: reloaded (changed: docker)"
    host.dockerd.run("svc", "back")
    wait_for(lambda: "svc" in host.docker()["containers"], what="svc listed")
    assert host.set("front_ips") == set()   # only addresses on 'front' count for this zone
    host.dockerd.docker("network", "connect", "front", "svc")
    host.wait_set("front_ips", {host.dockerd.ip("svc", "front")})
    host.dockerd.docker("network", "disconnect", "front", "svc")
    host.wait_set("front_ips", set())
    host.wait_set("front_ipv6", set())


def test_action_gets_up_and_down_with_name_and_addresses(host: Host) -> None:
    host.dockerd.run("web-a", "back")
    ip = host.dockerd.ip("web-a", "back")
    wait_for(lambda: f"up web-a {ip}" in host.actions(), what="action up")
    host.dockerd.docker("rm", "-f", "web-a")
    wait_for(lambda: f"down web-a {ip}" in host.actions(), what="action down")


def test_set_flushed_by_hand_is_repaired_by_update(host: Host) -> None:
    host.dockerd.run("web-1", "back")
    ip = host.dockerd.ip("web-1", "back")
    host.wait_set("web_ips", {ip})
    host.lab.run(host.ns, "nft", "flush", "set", "inet", "filter", "web_ips")
    assert host.daemon.ctl("update") == "OK: synced"
    assert host.set("web_ips") == {ip}


def test_an_outside_change_is_repaired_at_once(host: Host) -> None:
    """The nftables monitor sees `nft flush set` and `nft flush ruleset`: no update needed."""
    host.dockerd.run("web-2", "back")
    ip = host.dockerd.ip("web-2", "back")
    host.wait_set("web_ips", {ip})
    host.lab.run(host.ns, "nft", "flush", "set", "inet", "filter", "web_ips")
    host.wait_set("web_ips", {ip})
    wait_for(lambda: host.docker()["sets"]["web_ips"]["repairs"] == 1, what="repair counted")
    host.lab.run(host.ns, "nft", "flush", "ruleset")
    host.wait_set("web_ips", {ip})


def test_reload_moves_zones_in_place(host: Host) -> None:
    host.dockerd.run("web-1", "back")
    ip = host.dockerd.ip("web-1", "back")
    host.wait_set("web_ips", {ip})
    connects = host.docker()["connects"]
    host.daemon.write_config(host.config().replace('web: {names: ["web-*"]}',
                                                   'www: {names: ["web-*"]}'))
    reply = host.daemon.ctl("reload")
    assert reply.startswith("OK: reloaded (changed: docker)"), reply
    # the reply comes after the work: the new set is filled, the old one emptied
    assert host.set("www_ips") == {ip}
    assert host.set("web_ips") == set()
    assert host.docker()["connects"] == connects   # the event stream was kept


def test_bad_config_on_reload_keeps_the_running_one(host: Host) -> None:
    host.daemon.write_config(host.config().replace("retry_max: 0.5", "retry_max: soon"))
    reply = host.daemon.ctl("reload")
    assert reply.startswith("ERROR: reload refused"), reply
    assert "docker.retry_max: expected a number, got 'soon'" in reply
    host.dockerd.run("web-1", "back")
    host.wait_set("web_ips", {host.dockerd.ip("web-1", "back")})


def test_socket_missing_at_start_then_docker_arrives(lab: Lab, router: str, tmp_path: Path) -> None:
    dockerd = Dockerd(lab, router)
    try:
        host = Host(lab, router, dockerd, tmp_path)
        host.daemon.start()    # ready although Docker is not there
        status = host.docker()
        assert status["connected"] is False and "No such file" in status["error"]
        dockerd.start()
        dockerd.network("back", "10.78.0.0/24")
        dockerd.run("web-1", "back")
        host.wait_set("web_ips", {dockerd.ip("web-1", "back")})
        assert host.docker()["connected"] is True and host.docker()["error"] is None
        # retried many times, reported once
        assert host.daemon.output().count("unreachable") == 1
    finally:
        dockerd.close()


@pytest.fixture
def restoring(lab: Lab, router: str) -> Iterator[Dockerd]:
    """A dockerd with --live-restore: its containers outlive it."""
    engine = Dockerd(lab, router, live_restore=True)
    try:
        yield engine.start()
    finally:
        engine.close()


def test_sets_keep_content_while_docker_is_down_and_resync_on_return(
        lab: Lab, router: str, restoring: Dockerd, tmp_path: Path) -> None:
    host = Host(lab, router, restoring, tmp_path)
    restoring.network("back", "10.78.0.0/24")
    restoring.run("web-1", "back")
    restoring.run("web-2", "back")
    one, two = restoring.ip("web-1", "back"), restoring.ip("web-2", "back")
    pid = json.loads(restoring.docker("inspect", "web-2"))[0]["State"]["Pid"]
    host.daemon.start()
    host.wait_set("web_ips", {one, two})
    restoring.stop()
    wait_for(lambda: host.docker()["connected"] is False, what="daemon sees Docker gone")
    assert host.set("web_ips") == {one, two}          # nothing better to put there
    os.kill(pid, signal.SIGKILL)   # web-2 dies while nobody can report it
    restoring.start()
    # no event tells of web-2: only the listing taken at the reconnect does
    host.wait_set("web_ips", {one})
    assert host.docker()["connects"] == 2
