"""The traffic triggers' Prometheus families (capture faked as in test_service: no pcap here)."""

from __future__ import annotations

from netsentinel.metrics import render
from tests.lab import samples
from tests.traffic.test_service import VPN, WEB, make


def test_trigger_state_activations_failures_and_packets() -> None:
    service, runner, opener = make(VPN, WEB)
    opener.opened[0].waiting = 3                 # vpn's capture has three packets
    reader = service.triggers["vpn"].sources[0].reader
    assert reader is not None
    reader.doRead()
    runner.finish(1)       # start fails: counted, and the trigger is active all the same
    m = samples(render(service.metrics()))
    assert m['netsentinel_traffic_trigger_state{trigger="vpn",state="active"}'] == 1
    assert m['netsentinel_traffic_trigger_state{trigger="vpn",state="standby"}'] == 0
    assert m['netsentinel_traffic_trigger_state{trigger="web",state="standby"}'] == 1
    assert m['netsentinel_traffic_activations_total{trigger="vpn"}'] == 1
    assert m['netsentinel_traffic_command_failures_total{trigger="vpn"}'] == 1
    assert m['netsentinel_traffic_packets_total{trigger="vpn"}'] == 3
    assert m['netsentinel_traffic_packets_total{trigger="web"}'] == 0
