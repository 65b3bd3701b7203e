"""Proxy configuration from a template (IPMon's ``--proxy``), rendered purely.

The template is Python ``string.Template`` text: ``${eth0_ipv4}`` is the
interface's first IPv4 address, ``${eth0_ipv4_all}`` all of them separated by
spaces, likewise ``_ipv6``; interface names have characters other than letters,
digits and _ replaced by _.  Unknown placeholders are an error, not a blank.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from netsentinel.netlink.table import AddressTable


def template_variables(table: AddressTable, names: Iterable[str]) -> dict[str, str]:
    """Variables for ``names`` (an absent interface has empty values, not a KeyError)."""
    variables = {}
    for name in names:
        key = re.sub(r"\W", "_", name)
        for version in (4, 6):
            ips = sorted(a.ip for a in table.addresses(name) if a.version == version)
            variables[f"{key}_ipv{version}"] = str(ips[0]) if ips else ""
            variables[f"{key}_ipv{version}_all"] = " ".join(str(ip) for ip in ips)
    return variables


def render_proxy(template: str, table: AddressTable, names: Iterable[str]) -> str:
    """Raises KeyError naming a placeholder that no watched interface fills."""
    return string.Template(template).substitute(template_variables(table, names))
