"""Pieces the checks' namespace tests share: an action-script recorder, peers, certificates."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.lab import Lab

RECORDER = """#!/bin/sh
# one line per call: the arguments separated by '|', written in one write() so that
# actions running at the same time cannot interleave their lines
line=""
for a in "$@"; do line="$line$a|"; done
printf '%s\n' "$line" >> {log}
"""


class Recorder:
    """An action script that records its argv, one call per line."""

    def __init__(self, directory: Path) -> None:
        self.script = directory / "action.sh"
        self.log = directory / "action.log"
        self.script.write_text(RECORDER.format(log=self.log))
        self.script.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split("|")[:-1] for line in self.log.read_text().splitlines()]

    def events(self, name: str) -> list[list[str]]:
        return [c for c in self.calls() if len(c) > 2 and c[2] == name]


def peer(lab: Lab, router: str, name: str, router_address: str,
         *peer_addresses: str) -> tuple[str, str]:
    """A namespace joined to ``router`` by a veth; returns (namespace, router's interface)."""
    ns = lab.netns(name)
    here, there = lab.ifname(name), lab.ifname(name + "p")
    lab.veth(router, here, ns, there)
    add_address(lab, router, here, router_address)
    for address in peer_addresses:
        add_address(lab, ns, there, address)
    return ns, here


def add_address(lab: Lab, ns: str, ifname: str, address: str) -> None:
    """Add an address; IPv6 ones with ``nodad`` so they are usable at once, not tentative."""
    lab.run(ns, "ip", "addr", "add", address, "dev", ifname, *(["nodad"] if ":" in address else []))


def drop(lab: Lab, ns: str, rule: str) -> None:
    """Drop matching input traffic in ``ns`` (replaces an earlier drop)."""
    lab.run(ns, "nft", "delete", "table", "inet", "nstdrop", check=False)
    lab.nft(ns, "table inet nstdrop { chain input { type filter hook input priority 0; "
                f"{rule} drop; }}; }}\n")


def heal(lab: Lab, ns: str) -> None:
    lab.run(ns, "nft", "delete", "table", "inet", "nstdrop", check=False)


def default_routes(lab: Lab, ns: str, metric: int, family: int = 4) -> list[dict[str, object]]:
    out = lab.run(ns, "ip", "-j", f"-{family}", "route", "show", "default").stdout
    return [r for r in json.loads(out or b"[]") if r.get("metric", 0) == metric]


NGINX = """
pid {dir}/nginx.pid;
error_log {dir}/nginx.err;
events {{}}
http {{
  access_log off;
  default_type text/plain;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
{servers}
}}
"""


def start_nginx(lab: Lab, ns: str, directory: Path, servers: str) -> subprocess.Popen[bytes]:
    """nginx in ``ns`` serving these ``server { ... }`` lines (HTTP/HTTPS echo services),
    its pid, log and temp files under ``directory``."""
    (directory / "tmp").mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX.format(dir=directory, servers=servers))
    return lab.popen(ns, ["nginx", "-c", str(conf), "-g", "daemon off;"])


def make_certificates(directory: Path, names: list[str]) -> Path:
    """A test CA and one certificate per name (``<name>.crt``/``.key``); returns the CA file."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=netsentinel test CA", "-keyout", "ca.key", "-out", "ca.crt")
    for name in names:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        (directory / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    return directory / "ca.crt"


@contextlib.contextmanager
def netns_hosts(ns: str, lines: str) -> Iterator[None]:
    """/etc/hosts as seen by processes started with ``ip netns exec ns`` (bind-mounted)."""
    directory = Path("/etc/netns") / ns
    directory.mkdir(parents=True)
    try:
        (directory / "hosts").write_text(lines)
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)
