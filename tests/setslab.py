"""A router namespace whose wan and lan addresses the daemon keeps in nft sets: the lab
of the set-healing tests (periodic read-back and nftables' notifications)."""

from __future__ import annotations

import builtins
from pathlib import Path

from tests.lab import Daemon, Lab

CONFIG = """
addresses:
  delay: 0.05
  nftables: {{table: inet filter, create: {create}, verify: {verify}}}
  interfaces:
    {wan}: {{zone: wan}}
    {lan}: {{zone: lan}}
{extra}"""


class Router:
    def __init__(self, lab: Lab, tmp_path: Path, create: bool = True, verify: float = 1,
                 extra: str = "") -> None:
        self.lab, self.dir = lab, tmp_path
        self.ns = lab.netns("h")
        self.wan, self.lan = lab.ifname("wan"), lab.ifname("lan")
        lab.veth(self.ns, self.wan, None, self.lan)
        self.ip("addr", "add", "10.7.0.1/24", "dev", self.wan)
        self.ip("addr", "add", "10.8.0.1/24", "dev", self.lan)
        self.daemon = Daemon(lab, self.ns, tmp_path, CONFIG.format(
            wan=self.wan, lan=self.lan, create=str(create).lower(), verify=verify, extra=extra))

    def ip(self, *args: str) -> None:
        self.lab.run(self.ns, "ip", *args)

    def nft(self, command: str) -> None:
        self.lab.run(self.ns, "nft", command)

    def set(self, name: str) -> builtins.set[str] | None:
        return self.lab.nft_set(self.ns, "inet", "filter", name)

    def section(self, name: str) -> dict[str, object]:
        """The set's part of ``status`` (elements, error, repairs, ...)."""
        return self.daemon.status()["addresses"]["sets"].get(name, {})  # type: ignore[no-any-return]

    def set_error(self, name: str) -> str | None:
        return self.section(name).get("error")  # type: ignore[return-value]

    def full(self) -> bool:
        return self.set("wan_ips") == {"10.7.0.1"} and self.set("lan_ips") == {"10.8.0.1"}
