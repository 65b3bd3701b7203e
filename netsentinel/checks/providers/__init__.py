"""The DNS providers a ddns instance can update: one row each, one small module each.

A row says what the provider's ``update:`` takes (its endpoint, its secret, login,
zone, extra keys) and whether one request carries both address families; the module
(``netsentinel.checks.providers.<name>`` or the older ``checks.dyndns2``/``cloudflare``)
speaks the provider's documented API. Every module has ``update(reactor, config,
timeout, hostnames, address)`` firing with one ``HostResult`` per host name, never
failing (``send.py`` picks it). Rows only name modules, so the config check
imports no HTTP code.
"""

from __future__ import annotations

import attrs

DYNDNS2 = "netsentinel.checks.dyndns2"
PRESETS = "netsentinel.checks.providers.presets"


@attrs.frozen
class Spec:
    """One protocol of ``update: protocol:``."""

    name: str
    module: str
    server: str | None = None        # the default endpoint (None: ``server`` is required)
    secret: str = "password"         # its secret keys: NAME, NAME_file, NAME_env
    login: str = "optional"          # no, optional, required, host (defaults to a host name)
    zone: bool = False               # needs ``zone`` (the domain the host names are in)
    keys: tuple[str, ...] = ()       # further keys it takes (ttl, port, key_name, ...)
    dual_stack: bool = False         # IPv4 and IPv6 in one request (``V4,V6``)
    one_host: bool = False           # the secret belongs to one host name
    families: tuple[int, ...] = (4, 6)
    title: str = ""                  # for docs and error messages


def _dyndns2(name: str, server: str, title: str, login: str = "required",
             one_host: bool = False) -> Spec:
    return Spec(name, PRESETS, server, "password", login, dual_stack=True,
                one_host=one_host, title=title)


SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("dyndns2", DYNDNS2, None, "password", "optional", dual_stack=True,
         title="any dyndns2 server"),
    _dyndns2("dyndns", "https://members.dyndns.org/nic/update", "DynDNS (Oracle Dyn)"),
    _dyndns2("noip", "https://dynupdate.no-ip.com/nic/update", "No-IP"),
    _dyndns2("dynu", "https://api.dynu.com/nic/update", "Dynu"),
    _dyndns2("changeip", "https://nic.changeip.com/nic/update", "ChangeIP"),
    _dyndns2("ddnss", "https://ddnss.de/upd.php", "ddnss.de"),
    _dyndns2("easydns", "https://members.easydns.com/dyn/dyndns.php", "easyDNS"),
    _dyndns2("infomaniak", "https://infomaniak.com/nic/update", "Infomaniak"),
    _dyndns2("inwx", "https://dyndns.inwx.com/nic/update", "INWX"),
    _dyndns2("ovh", "https://www.ovh.com/nic/update?system=dyndns", "OVH DynHost"),
    _dyndns2("he", "https://dyn.dns.he.net/nic/update", "Hurricane Electric",
             login="host", one_host=True),
    _dyndns2("desec", "https://update.dedyn.io/nic/update", "deSEC (dedyn.io)", login="host"),
    Spec("cloudflare", "netsentinel.checks.cloudflare", "https://api.cloudflare.com/client/v4",
         "token", "no", zone=True, title="Cloudflare API v4"),
    Spec("duckdns", "netsentinel.checks.providers.duckdns", "https://www.duckdns.org/update",
         "token", "no", dual_stack=True, title="DuckDNS"),
    Spec("freedns", "netsentinel.checks.providers.freedns", "https://sync.afraid.org/u/",
         "token", "no", one_host=True, title="FreeDNS (afraid.org), v2 sync URL"),
    Spec("namecheap", "netsentinel.checks.providers.namecheap",
         "https://dynamicdns.park-your-domain.com/update", "password", "no", zone=True,
         families=(4,), title="Namecheap dynamic DNS"),
    Spec("porkbun", "netsentinel.checks.providers.porkbun", "https://api.porkbun.com/api/json/v3",
         "password", "required", zone=True, keys=("ttl",), title="Porkbun JSON API v3"),
    Spec("gandi", "netsentinel.checks.providers.gandi", "https://api.gandi.net/v5/livedns",
         "token", "no", zone=True, keys=("ttl",), title="Gandi LiveDNS"),
    Spec("rfc2136", "netsentinel.checks.providers.rfc2136", None, "key", "no", zone=True,
         keys=("ttl", "port", "key_name", "algorithm"),
         title="RFC 2136 dynamic update with TSIG (BIND, Knot, PowerDNS, ...)"),
    Spec("custom", "netsentinel.checks.providers.custom", None, "password", "optional",
         keys=("header", "success", "method"), title="a URL template"),
]}

