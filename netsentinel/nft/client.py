"""A small libnftables client: reads sets, commits one transaction per call.

libnftables answers in microseconds over netlink, so calls run in the reactor
thread, as DESIGN.md allows for short batched calls.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

log = Logger()


class NftError(Exception):
    """libnftables refused a command; the message is nft's own."""


# what NftClient calls; python3-nftables and pip-nftables (the same file, on PyPI) have them
NEEDED = ("set_json_output", "set_handle_output", "json_cmd", "cmd")
PACKAGES = "python3-nftables (apt install python3-nftables) or pip-nftables (pip install pip-nftables)"


def binding_problem() -> str | None:
    """Why libnftables cannot be used from Python, in one line naming the package; None
    when it can. Checked while the service tree is built, so a daemon that writes nft
    sets refuses to start (and check-config fails) instead of failing at every sync."""
    try:
        import nftables
        context = nftables.Nftables()
    except Exception as e:   # ImportError, or OSError when libnftables.so.1 is missing
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"the Python nftables module cannot be loaded ({reason}): install {PACKAGES}"
    missing = [name for name in NEEDED if not callable(getattr(context, name, None))]
    if missing:   # some other module named nftables, or a binding too old for us
        where = getattr(nftables, "__file__", None) or "?"
        return (f"the Python nftables module at {where} lacks {', '.join(missing)}:"
                f" install {PACKAGES}")
    return None


class NftClient:
    def __init__(self) -> None:
        self._nft: Any = None
        self.transactions = 0

    def _context(self) -> Any:
        if self._nft is None:
            import nftables  # the Debian binding; imported at first use, not at config check
            self._nft = nftables.Nftables()
            self._nft.set_json_output(True)
            self._nft.set_handle_output(False)
        return self._nft

    def _run(self, commands: list[dict[str, Any]]) -> Any:
        rc, output, error = self._context().json_cmd({"nftables": commands})
        if rc != 0:
            raise NftError(_first_line(error) or f"nft failed with code {rc}")
        return output

    def list_set(self, family: str, table: str, name: str) -> list[Any] | None:
        """The raw JSON elements of a set; None when the table or set does not exist."""
        try:
            output = self._run([{"list": {"set": {"family": family, "table": table,
                                                  "name": name}}}])
        except NftError as e:
            if _absent(e):
                return None
            raise
        for item in output.get("nftables", []) if isinstance(output, dict) else []:
            if "set" in item:
                return list(item["set"].get("elem", []))
        return []

    def set_names(self, family: str, table: str) -> frozenset[str]:
        """The sets ``table`` holds (none when it does not exist)."""
        output = self._run([{"list": {"sets": {"family": family}}}])
        items = output.get("nftables", []) if isinstance(output, dict) else []
        return frozenset(item["set"]["name"] for item in items
                         if "set" in item and item["set"].get("table") == table)

    def counters(self, family: str, table: str) -> dict[str, tuple[int, int]]:
        """The named counters of ``table``: name -> (packets, bytes); none when the
        table does not exist."""
        try:
            output = self._run([{"list": {"counters": {"family": family, "table": table}}}])
        except NftError as e:
            if _absent(e):
                return {}
            raise
        items = output.get("nftables", []) if isinstance(output, dict) else []
        return {c["name"]: (int(c.get("packets", 0)), int(c.get("bytes", 0)))
                for c in (item["counter"] for item in items if "counter" in item)
                if c.get("table") == table}

    def transaction(self, commands: list[dict[str, Any]]) -> None:
        """Apply ``commands`` atomically: all of them or, on error, none."""
        if not commands:
            return
        self._run(commands)
        self.transactions += 1

    def each(self, commands: list[dict[str, Any]]) -> None:
        """Apply each command on its own, ignoring the ones nft refuses: a removal of
        things some of which may be gone already stops at nothing."""
        for command in commands:
            try:
                self.transaction([command])
            except NftError:
                pass

    def run_file(self, path: str) -> None:
        """Load a ruleset file as one transaction (``nft -f``)."""
        rc, _, error = self._context().cmd(f'include "{path}"')
        if rc != 0:
            raise NftError(_first_line(error) or f"nft -f {path} failed with code {rc}")
        self.transactions += 1


def _absent(error: NftError) -> bool:
    """nft's way of saying the table (or the set asked for) does not exist."""
    return "No such file or directory" in str(error) or "does not exist" in str(error)


def _first_line(text: str) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


