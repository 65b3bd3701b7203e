"""The real daemon in namespaces: NFLOG from a peer, tun captures, forced standby."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.lab import Daemon, Lab, wait_for
from tests.traffic.conftest import Recorder, Tun
from tests.traffic.packets import ACK, SYN, tcp4, udp4

GROUP = 23


def trigger_status(daemon: Daemon, name: str) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(daemon.ctl("trigger list"))[name]
    return status


def nflog_lab(lab: Lab) -> tuple[str, str]:
    """Daemon namespace ``d`` logs pings from peer ``p`` to NFLOG group GROUP."""
    d, p = lab.netns("d"), lab.netns("p")
    lab.veth(d, "dv", p, "pv")
    lab.run(d, "ip", "addr", "add", "10.77.0.1/24", "dev", "dv")
    lab.run(p, "ip", "addr", "add", "10.77.0.2/24", "dev", "pv")
    lab.nft(d, f"""table inet t {{
        chain input {{
            type filter hook input priority 0;
            ip saddr 10.77.0.2 icmp type echo-request log group {GROUP}
        }}
    }}""")
    return d, p


def ping(lab: Lab, ns: str) -> float:
    """One echo request; returns the time taken just before it was sent, which is never later
    than the daemon saw it (a time taken after ping exits can be, on a busy machine)."""
    sent = time.time()
    lab.run(ns, "ping", "-c", "1", "-W", "2", "10.77.0.1")
    return sent


def test_nflog_traffic_starts_and_idle_stops(lab: Lab, tmp_path: Path, recorder: Recorder) -> None:
    d, p = nflog_lab(lab)
    daemon = Daemon(lab, d, tmp_path, f"""
traffic:
  vpn:
    nflog: {GROUP}
    command: [{recorder.path}, vpn]
    idle: 2
""").start()
    assert trigger_status(daemon, "vpn")["state"] == "standby"
    ping(lab, p)
    wait_for(lambda: recorder.calls() == [("vpn", "start")], what="start")
    sent = ping(lab, p)
    wait_for(lambda: recorder.calls() == [("vpn", "start"), ("vpn", "stop")], what="stop")
    # the stop came no sooner than `idle` after the last packet was sent
    assert recorder.times("vpn", "stop")[0] - sent >= 2
    wait_for(lambda: trigger_status(daemon, "vpn")["state"] == "standby", what="standby")
    status = trigger_status(daemon, "vpn")
    assert status["activations"] == 1 and status["failures"] == 0
    assert (f"first packet on nflog:{GROUP}: ICMP 10.77.0.2 > 10.77.0.1 [type 8 code 0]"
            in daemon.output())


def test_forced_standby_stops_now_and_stop_on_exit(lab: Lab, tmp_path: Path,
                                                   recorder: Recorder) -> None:
    d, p = nflog_lab(lab)
    daemon = Daemon(lab, d, tmp_path, f"""
traffic:
  vpn:
    nflog: {GROUP}
    command: [{recorder.path}, vpn]
    stop_on_exit: true
""").start()
    assert daemon.ctl("trigger standby vpn") == "vpn is already in standby"
    assert daemon.ctl("trigger standby nope").startswith("ERROR: no trigger named 'nope'")
    ping(lab, p)
    wait_for(lambda: trigger_status(daemon, "vpn")["state"] == "active", what="active")
    # the reply comes once the stop has run
    assert daemon.ctl("trigger standby vpn") == "vpn is in standby"
    assert recorder.calls() == [("vpn", "start"), ("vpn", "stop")]
    ping(lab, p)
    wait_for(lambda: trigger_status(daemon, "vpn")["state"] == "active", what="active again")
    daemon.stop()     # twistd ends by re-raising SIGTERM: its exit status says nothing here
    assert recorder.calls() == [("vpn", "start"), ("vpn", "stop")] * 2


def test_bad_filter_is_refused_at_load(lab: Lab, tmp_path: Path, recorder: Recorder) -> None:
    daemon = Daemon(lab, lab.netns("d"), tmp_path, f"""
traffic:
  web:
    interface: tun0
    filter: "tcp port http and and"
    command: {recorder.path}
""").start(wait=False)
    assert daemon.process is not None
    assert daemon.process.wait(timeout=20) != 0
    assert "traffic.web.filter: bad pcap filter" in daemon.output()


def test_tun_filter_two_triggers_and_late_interface(lab: Lab, tmp_path: Path,
                                                    recorder: Recorder) -> None:
    d = lab.netns("d")
    tun = lab.ifname("tun")
    daemon = Daemon(lab, d, tmp_path, f"""
traffic:
  filtered:
    interface: {tun}
    filter: "udp port 7000"
    command: [{recorder.path}, filtered]
  any:
    interface: {tun}
    command: [{recorder.path}, any]
""").start()
    sources = [trigger_status(daemon, n)["sources"][0] for n in ("filtered", "any")]
    assert [s["state"] for s in sources] == ["waiting", "waiting"]
    device = Tun(lab, d, tun)      # the interface appears after the daemon started
    wait_for(lambda: all(trigger_status(daemon, n)["sources"][0]["state"] == "listening"
                         for n in ("filtered", "any")), what="sources listening")
    device.write(udp4("10.5.0.2", "10.5.0.1", 4000, 7001))
    wait_for(lambda: recorder.calls() == [("any", "start")], what="unfiltered start")
    device.write(udp4("10.5.0.2", "10.5.0.1", 4000, 7000))
    wait_for(lambda: ("filtered", "start") in recorder.calls(), what="filtered start")
    # the first packet never reached the filtered capture
    assert trigger_status(daemon, "filtered")["sources"][0]["packets"] == 1
    assert sorted(recorder.calls()) == [("any", "start"), ("filtered", "start")]
    assert f"first packet on {tun}: UDP 10.5.0.2:4000 > 10.5.0.1:7000" in daemon.output()


def test_ack_only_lets_only_tcp_ack_keep_it_alive(lab: Lab, tmp_path: Path,
                                                  recorder: Recorder) -> None:
    d = lab.netns("d")
    tun = lab.ifname("tun")
    device = Tun(lab, d, tun)
    daemon = Daemon(lab, d, tmp_path, f"""
traffic:
  web:
    interface: {tun}
    filter: "tcp or udp"
    ack_only: true
    command: [{recorder.path}, web]
    idle: 3
""").start()
    wait_for(lambda: trigger_status(daemon, "web")["sources"][0]["state"] == "listening",
             what="listening")
    syn = tcp4("10.5.0.2", "10.5.0.1", 4000, 443, SYN)
    device.write(syn)                       # any matching packet starts
    wait_for(lambda: trigger_status(daemon, "web")["state"] == "active", what="active")
    wait_for(lambda: trigger_status(daemon, "web")["idle_for"] >= 1.5, what="idle time")
    device.write(tcp4("10.5.0.2", "10.5.0.1", 4000, 443, ACK))
    wait_for(lambda: trigger_status(daemon, "web")["idle_for"] < 1.5, what="ACK refresh")

    def stopped_despite_other_packets() -> bool:
        device.write(syn)
        device.write(udp4("10.5.0.2", "10.5.0.1", 4000, 53))
        return ("web", "stop") in recorder.calls()
    wait_for(stopped_despite_other_packets, timeout=20, interval=0.3, what="stop")


def test_tun_that_vanishes_and_returns_is_picked_up_again(lab: Lab, tmp_path: Path,
                                                         recorder: Recorder) -> None:
    d = lab.netns("d")
    tun = lab.ifname("tun")
    first = Tun(lab, d, tun)
    daemon = Daemon(lab, d, tmp_path, f"""
traffic:
  vpn:
    interface: {tun}
    command: [{recorder.path}, vpn]
""").start()

    def source_state() -> str:
        return str(trigger_status(daemon, "vpn")["sources"][0]["state"])
    wait_for(lambda: source_state() == "listening", what="listening")
    first.process.kill()                 # closing the last fd deletes the tun
    wait_for(lambda: source_state() == "waiting", what="source notices the removal")
    second = Tun(lab, d, tun)
    wait_for(lambda: source_state() == "listening", what="listening again")
    second.write(udp4("10.5.0.2", "10.5.0.1", 4000, 53))
    wait_for(lambda: recorder.calls() == [("vpn", "start")], what="start")
