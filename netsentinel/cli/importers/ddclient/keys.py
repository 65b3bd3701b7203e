"""What ddclient.conf's keys mean to the importer: built-in names, notes, value syntax."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from netsentinel.cli.importers.ddclient.conf import Setting

# ddclient 3.10's built-in `web=` names: the URL, and why netsentinel cannot use it (None:
# it answers the bare address, as a netsentinel source must)
HTML = "answers an HTML page around the address (ddclient skipped to it)"
BUILTIN_WEB: dict[str, tuple[str, str | None]] = {
    "dyndns": ("http://checkip.dyndns.org/", HTML),
    "freedns": ("https://freedns.afraid.org/dynamic/check.php", HTML),
    "googledomains": ("https://domains.google.com/checkip", "Google Domains closed in 2023"),
    "he": ("https://checkip.dns.he.net/", HTML),
    "ip4only.me": ("http://ip4only.me/api/", "answers CSV (IPv4,ADDRESS,...), not the bare address"),
    "ip6only.me": ("http://ip6only.me/api/", "answers CSV (IPv6,ADDRESS,...), not the bare address"),
    "ipify-ipv4": ("https://api.ipify.org/", None),
    "ipify-ipv6": ("https://api6.ipify.org/", None),
    "loopia": ("https://dns.loopia.se/checkip/checkip.php", HTML),
    "myonlineportal": ("https://myonlineportal.net/checkip", HTML),
    "noip": ("http://ip1.dynupdate.no-ip.com/", None),
    "nsupdate.info": ("https://ipv4.nsupdate.info/myip", None),
    "nsupdate.info-ipv6": ("https://ipv6.nsupdate.info/myip", None),
    "zoneedit": ("https://dynamic.zoneedit.com/checkip.html", HTML),
}
# hosts of those services, so `web=checkip.dyndns.org/` is recognised as well
WEB_HOSTS = {urlsplit(url).hostname: why for url, why in BUILTIN_WEB.values()}
WEB_HOSTS["checkip.dyndns.com"] = HTML
DEFAULT_WEB = {"": "dyndns", "v4": "ipify-ipv4", "v6": "ipify-ipv6"}
FALLBACK_SOURCE = {"dns": {"name": "myip.opendns.com", "server": "208.67.222.222"}}
# what each family's `use` may say; anything else is one of ddclient's firewall/router models
METHODS = ("ip", "web", "if", "cmd", "fw")
# keys that are ddclient's own business: noted once, at the end
PROGRAM_NOTES = {
    "syslog": "logging goes through twistd (journald, or --syslog)",
    "facility": "logging goes through twistd (journald, or --syslog)",
    "priority": "logging goes through twistd (journald, or --syslog)",
    "verbose": "every update and error is logged; `netsentinel-ctl watch` shows the events",
    "debug": "every update and error is logged; `netsentinel-ctl watch` shows the events",
    "quiet": "every update and error is logged; `netsentinel-ctl watch` shows the events",
    "mail": "no mail: checks.action gets ddns-provider-updated / ddns-provider-error",
    "mail-failure": "no mail: checks.action gets ddns-provider-error and ddns-provider-retry",
    "pid": "the daemon's pid file is twistd's --pidfile",
    "foreground": "the daemon runs under systemd (twistd --nodaemon)",
    "exec": "updates are always sent",
    "postscript": "checks.action is called with ddns-provider-updated IP HOSTS instead",
    "retry": "temporary errors are retried after 5 min, doubling to 1 h",
    "max-warn": "each error is logged once per attempt",
}
# keys of one entry without an equivalent
ENTRY_NOTES = {
    "min-error-interval": "fixed: 5 min after a temporary error, doubling to 1 h",
    "ssl_ca_dir": "a CA directory: netsentinel takes one PEM file (`ca:`) or the system store",
    "web-ssl-validate": "HTTPS is always verified",
    "fw-ssl-validate": "HTTPS is always verified",
    "proxy": "no HTTP proxy: the daemon connects directly",
    "wildcard": "not sent; add it to the query of `server` if your provider needs it",
    "mx": "not sent; add it to the query of `server` if your provider needs it",
    "backupmx": "not sent; add it to the query of `server` if your provider needs it",
    "static": "not sent; add it to the query of `server` if your provider needs it",
    "custom": "not sent; add it to the query of `server` if your provider needs it",
    "if-skip": "deprecated in ddclient, does nothing",
    "fw-banlocal": "deprecated in ddclient, does nothing",
    "zone": "for protocols other than dyndns2 (cloudflare takes it)",
    "ttl": "for protocols other than dyndns2",
}


def duration(text: str) -> int | None:
    """ddclient's interval(): ``300``, ``30s``, ``5m``, ``2h``, ``25d`` (and ``5min``, ``2days``)."""
    match = re.match(r"(\d+)([smhd])", text, re.IGNORECASE)
    if match:
        return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2].lower()]
    return int(text) if text.isdigit() else None


def flag(text: str) -> bool | None:
    """ddclient's booleans: y, yes, t, true, 1 / n, no, f, false, 0."""
    if re.fullmatch(r"y(es)?|t(rue)?|1", text, re.IGNORECASE):
        return True
    if re.fullmatch(r"no?|f(alse)?|0", text, re.IGNORECASE):
        return False
    return None


@attrs.frozen
class Method:
    """How ddclient found one family's address: ``use=web`` is ``("web", "", "use", ...)``,
    ``usev6=ifv6`` is ``("if", "v6", "usev6", ...)``."""

    kind: str
    suffix: str
    key: str
    setting: Setting | None

    def said(self) -> str:
        return self.setting.at(self.key) if self.setting else f"{self.key}={self.kind} (ddclient's default)"


@attrs.frozen
class Values:
    """An entry's values that both of its instances (IPv4, IPv6) use."""

    daemon: int | None
    min_interval: int | None
    max_interval: int | None
    timeout: int | None
    ssl: bool | None


# ddclient protocol: netsentinel's (providers.py writes them); presets take ddclient's
# login and password as they are
PRESETS = {"noip": "noip", "changeip": "changeip", "easydns": "easydns",
           "infomaniak": "infomaniak", "ovh": "ovh", "inwx": "inwx", "dyndns1": "dyndns"}
OWN = {"duckdns": "duckdns", "freedns": "freedns", "namecheap": "namecheap",
       "porkbun": "porkbun", "gandi": "gandi", "nsupdate": "rfc2136"}
MAPPED = {**PRESETS, **OWN}
# keys each protocol's writer uses, so none is noted as unknown
PROTOCOL_KEYS = {"namecheap": {"zone"}, "porkbun": {"apikey", "secretapikey", "root-domain",
                                                    "on-root-domain", "ttl"},
                 "gandi": {"zone", "ttl", "use-personal-access-token"},
                 "nsupdate": {"zone", "ttl", "tcp"}}
PROTOCOLS = ("dyndns2", "cloudflare", *MAPPED)
CLOUDFLARE_HOST = "api.cloudflare.com/client/v4"     # ddclient's default server for it
DONE = {"host", "login", "password", "protocol", "server", "script", "ssl", "ssl_ca_file",
        "daemon", "min-interval", "max-interval", "cache", "timeout", "use", "usev4", "usev6",
        "fw-login", "fw-password", "fw-skip", "cmd-skip",
        *(f"{m}{v}" for m in METHODS for v in ("", "v4", "v6")),
        *(f"web{v}-skip" for v in ("", "v4", "v6"))}

