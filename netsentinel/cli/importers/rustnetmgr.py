"""rust-network-mgr's ``config.yaml`` → ``addresses:``.

Its ``interfaces`` list maps each interface to an ``nftables_zone`` whose sets
``<zone>_ips`` and ``<zone>_ipv6`` live in ``inet filter``: netsentinel's zones keep
those names.  rust-network-mgr's ``load_rules()`` creates the table and both sets
itself at start, so the import says ``create: true``.  ``dhcp`` and ``address`` only
described the interface; addresses come from the kernel in both tools.
"""

from __future__ import annotations

from typing import Any

from netsentinel.addresses.config import ZONE_NAME
from netsentinel.cli.importers import Reader, refuse_problems, split_args, unknown_keys
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import Section, boolean, invalid, string

DEFAULT_CONFIG = "/etc/rust-network-mgr/config.yaml"
# src/cli.rs and src/socket.rs; the README says /run/rust-network-mgr.sock
DEFAULT_SOCKET = "/run/rust-network-manager/rust-network-manager.sock"
README_SOCKET = "/run/rust-network-mgr.sock"
DEFAULT_HTTP = "127.0.0.1:9100"     # src/main.rs: served whenever http_bind_addr is absent
USAGE = "import rust-network-mgr [CONFIG]"


def convert(args: list[str], read: Reader) -> str:
    files, _ = split_args(args, USAGE)
    path = files[0] if files else DEFAULT_CONFIG
    return convert_text(read(path), path)


def _interface_name(value: Any) -> str:
    name = string(value)
    if len(name) > 15 or "/" in name or any(c.isspace() for c in name):
        raise invalid(f"not an interface name: {name!r}")
    return name


def _zone(value: Any) -> str:
    zone = string(value)
    if not ZONE_NAME.match(zone):
        raise invalid(f"netsentinel zones are a letter then letters, digits or _ (the set is "
                      f"<zone>_ips), got {zone!r}")
    return zone


def convert_text(text: str, file: str) -> str:
    root = Section.from_text(text, file)
    entries = []
    for item in root.items("interfaces"):
        if not isinstance(item, Section):
            root.problem(f"an interface is a mapping with a name, got {item!r}",
                         root.line_of("interfaces"), "interfaces")
            continue
        entries.append((item.get("name", _interface_name), item.get("nftables_zone", _zone, None),
                        item.get("dhcp", boolean, None), item.get("address", string, None),
                        unknown_keys(item)))
    if not entries and not root.problems:
        root.problem("no interfaces: rust-network-mgr needs at least one", root.line_of("interfaces"),
                     "interfaces")
    socket = root.get("socket_path", string, None)
    http = root.get("http_bind_addr", _optional_string, None)
    rules = root.get("nftables_rules_path", _optional_string, None)
    leftovers = unknown_keys(root)
    refuse_problems(root)

    doc = Document()
    doc.comment(f"netsentinel `addresses:` imported from rust-network-mgr {file}\n"
                "by `netsentinel-ctl import rust-network-mgr`; check it with "
                "`netsentinel-ctl check-config FILE`.")
    doc.key("addresses", 0)
    doc.key("interfaces", 1, "rust-network-mgr `interfaces:`, in its order")
    for entry in entries:
        _write_interface(doc, *entry)
    if any(zone is not None for _, zone, *_ in entries):
        doc.key("nftables", 1)
        doc.value("table", "inet filter", 2, "rust-network-mgr's fixed table")
        doc.value("create", True, 2, "rust-network-mgr's load_rules() created the table and "
                  "<zone>_ips, <zone>_ipv6 at start; so does netsentinel")
    doc.blank()
    _write_notes(doc, socket, http, rules)
    for note in leftovers:
        doc.comment(note)
    return doc.text()


def _write_interface(doc: Document, name: str, zone: str | None, dhcp: bool | None,
                     address: str | None, unknown: list[str]) -> None:
    notes = [f"nftables_zone {zone} → sets {zone}_ips, {zone}_ipv6" if zone is not None
             else "no nftables_zone: in no set (shown in status and watch)"]
    if dhcp is not None:
        notes.append(f"dhcp: {str(dhcp).lower()} not needed")
    if address is not None:
        notes.append(f"address {address} not needed (read from the kernel)")
    doc.value(name, {"zone": zone} if zone is not None else {}, 2, "; ".join(notes))
    for note in unknown:
        doc.comment(note, 2)


def _write_notes(doc: Document, socket: str | None, http: str | None, rules: str | None) -> None:
    """What rust-network-mgr served that netsentinel serves elsewhere."""
    old = socket or f"{DEFAULT_SOCKET} (its code's default; its README says {README_SOCKET})"
    doc.comment(f"socket_path {old}:\n`reload`, `status`, `ping` now go to control.socket "
                "(default /run/netsentinel.sock); to keep\nthe old path set "
                f"`control: {{socket: {socket or DEFAULT_SOCKET}}}`.")
    doc.comment(f"http_bind_addr {http or DEFAULT_HTTP + ' (its default: the API ran unless set)'}"
                ":\nno REST API here. GET /status, /interfaces, /containers → `netsentinel-ctl "
                "status --json`;\nPOST /reload → `netsentinel-ctl reload`; GET /metrics → "
                "`control: {metrics: \"127.0.0.1:9380\"}`\n(docs/metrics.md); /health → "
                "`netsentinel-ctl ping`. Clients of port 9100 need changing.")
    if rules is not None:
        doc.comment(f"nftables_rules_path {rules}: unused by rust-network-mgr; nothing to import.")
    doc.comment("Docker: rust-network-mgr tracked container IPs over /var/run/docker.sock into "
                "its own\ndocker_ips/docker_ipv6 sets; netsentinel's `docker:` section does that "
                "job and fills nft sets:\nadd zones selecting containers by name, label or "
                "compose project (docs/docker.md).")


def _optional_string(value: Any) -> str | None:
    return None if value is None else string(value)
