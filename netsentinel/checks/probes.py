"""Multi-WAN probes, each bound to its uplink: ICMP, a TCP connect, a DNS answer, ARP.

ICMP goes through the shared engine with SO_BINDTODEVICE (the uplink's ``oif``
rule sends it through the uplink's table).  TCP and DNS bind their socket to
the uplink's address, so its ``from`` rule does the same.  ARP asks the
gateway on the interface itself: it answers while the link and the modem are
alive, even when everything upstream is dead.  Every probe ends within
``wait`` seconds with an outcome and, when it failed, the reason.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

from twisted.internet import defer, error, protocol
from twisted.names import dns

from netsentinel.checks.config import Probe, Uplink
from netsentinel.checks.config.failover import ProbeSpec
from netsentinel.checks.failover_report import ProbeOutcome
from netsentinel.checks.icmp import IcmpEngine
from netsentinel.deferreds import in_thread

ETH_P_ARP = 0x0806


def probes_of(uplink: Uplink) -> tuple[ProbeSpec, ...]:
    """The uplink's probes: as configured, or ICMP to each family's target."""
    return uplink.probes or tuple(ProbeSpec("icmp", t) for t in uplink.targets().values())


def _source(addresses: tuple[str, ...], target: str) -> str | None:
    version = ipaddress.ip_address(target).version
    return next((a for a in addresses if ipaddress.ip_address(a).version == version), None)


class Prober:
    """Runs one uplink's probes; ``addresses`` are the uplink's current addresses."""

    def __init__(self, reactor: Any, engine: IcmpEngine, probe: Probe) -> None:
        self.reactor = reactor
        self.engine = engine
        self.probe = probe

    def run(self, uplink: Uplink, addresses: tuple[str, ...]) -> defer.Deferred[list[ProbeOutcome]]:
        return defer.gatherResults([self.one(uplink, spec, addresses)
                                    for spec in probes_of(uplink)])

    def one(self, uplink: Uplink, spec: ProbeSpec,
            addresses: tuple[str, ...]) -> defer.Deferred[ProbeOutcome]:
        target = spec.target or uplink.gateway or uplink.gateway6 or ""
        if spec.kind == "icmp":
            d = self.engine.ping(target, self.probe.count, self.probe.wait,
                                 interface=uplink.interface)
            return d.addCallback(lambda r: ProbeOutcome(
                spec.text(), r.alive, None if r.alive else f"no reply from {target}"))
        source = _source(addresses, target)
        if spec.kind == "arp":
            if source is None or ":" in target:
                return defer.succeed(ProbeOutcome(f"arp {target}", False, "no IPv4 address"))
            return in_thread(self.reactor, lambda: arp(uplink.interface, source, target,
                                                       self.probe.wait))
        if source is None:
            return defer.succeed(ProbeOutcome(spec.text(), False, "the uplink has no address"))
        attempt = self._tcp(target, spec.port, source) if spec.kind == "tcp" else \
            self._dns(target, spec.name or "", source)
        return attempt.addCallbacks(
            lambda _: ProbeOutcome(spec.text(), True),
            lambda f: ProbeOutcome(spec.text(), False, _reason(f.value)))

    def _tcp(self, host: str, port: int, source: str) -> defer.Deferred[Any]:
        endpoint: defer.Deferred[Any] = defer.Deferred()

        class Connected(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.loseConnection()    # type: ignore[union-attr]
                endpoint.callback(True)

        class Factory(protocol.ClientFactory):
            def buildProtocol(self, addr: Any) -> protocol.Protocol:
                return Connected()

            def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
                endpoint.errback(reason)

        self.reactor.connectTCP(host, port, Factory(), timeout=self.probe.wait,
                                bindAddress=(source, 0))
        return endpoint

    def _dns(self, server: str, name: str, source: str) -> defer.Deferred[Any]:
        proto = dns.DNSDatagramProtocol(None, reactor=self.reactor)
        port = self.reactor.listenUDP(0, proto, interface=source)
        kind = dns.AAAA if ":" in server else dns.A
        d = proto.query((server, 53), [dns.Query(name, kind)], timeout=self.probe.wait)

        def answered(message: dns.Message) -> None:
            if message.rCode != dns.OK or not message.answers:
                raise ValueError(f"no answer for {name} (rcode {message.rCode})")
        return d.addCallback(answered).addBoth(_closing(port))


def _closing(port: Any) -> Any:
    def close(result: Any) -> Any:
        port.stopListening()
        return result
    return close


def _reason(failure: BaseException) -> str:
    if isinstance(failure, (error.TimeoutError, defer.TimeoutError)):
        return "timed out"
    if isinstance(failure, error.ConnectionRefusedError):
        return "connection refused"
    return str(failure).strip() or type(failure).__name__


def arp(ifname: str, source: str, target: str, wait: float) -> ProbeOutcome:
    """Ask for ``target``'s MAC on ``ifname`` and wait for its answer (blocking)."""
    text = f"arp {target}"
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ARP)) as s:
            s.bind((ifname, ETH_P_ARP))
            mac = s.getsockname()[4]
            request = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac,
                                  socket.inet_aton(source), b"\0" * 6, socket.inet_aton(target))
            s.sendto(request, (ifname, ETH_P_ARP, 0, 0, b"\xff" * 6))
            s.settimeout(wait)
            wanted = socket.inet_aton(target)
            while True:
                data = s.recv(64)
                if len(data) >= 28 and data[6:8] == b"\0\2" and data[14:18] == wanted:
                    return ProbeOutcome(text, True)
    except TimeoutError:
        return ProbeOutcome(text, False, f"no ARP reply from {target}")
    except OSError as e:
        return ProbeOutcome(text, False, f"ARP: {e.strerror or e}")
