"""``netsentinel-ctl``: talk to a running daemon over its control socket (AMP).

Any command the daemon knows is passed through (``status``, ``reload``,
``forward stats ssh``, ...); ``check-config FILE`` and ``import TOOL ...`` run
locally and start nothing; ``watch`` streams events until interrupted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from twisted.internet import defer, endpoints, protocol, task
from twisted.protocols import amp
from twisted.python.failure import Failure

from netsentinel.cli import importers
from netsentinel.cli.render import render
from netsentinel.config import DEFAULT_SOCKET, load_config
from netsentinel.control.commands import Call, Notify, Watch
from netsentinel.schema import ConfigError
from netsentinel.tree import TreeError


class _Client(amp.AMP):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json
        self.closed: defer.Deferred[None] = defer.Deferred()

    @Notify.responder
    def notify(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.as_json:
            print(json.dumps(event), flush=True)
        else:
            name = event.pop("event")
            print(name, " ".join(f"{k}={v}" for k, v in event.items()), flush=True)
        return {}

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        super().connectionLost(reason)
        if not self.closed.called:
            self.closed.callback(None)


def check_config(path: str) -> int:
    """Validate ``path`` and build the daemon's whole tree from it, as ``twistd`` does at
    start, with a reactor that never runs: nothing is bound, opened or started."""
    from twisted.internet import reactor

    from netsentinel.tap import build
    try:
        config = load_config(path)
        build(config, reactor)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return 2
    except TreeError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    print(f"{path}: OK ({', '.join(config.features) or 'no features'})")
    return 0


def import_config(tool: str, args: list[str]) -> int:
    """Print the netsentinel section made from TOOL's config; 2 if it cannot be read."""
    try:
        text = importers.convert(tool, args, importers.read_file)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


IMPORT_HELP = """\
import TOOL [FILE...] [-- TOOL-OPTIONS...] prints a netsentinel section made from
the config of a tool it replaces (comments say where each value came from):
  import ipmon [UNIT|VARS|SETS...] [-- -n[FILE] -f -p -d DELAY -m -s]   -> addresses:
  import imon [/etc/default/imon-NAME] [-- --instance NAME --nosyslog]  -> checks:
  import tuninetd -- -i IFACE|-n GROUP -c CMD [-f FILTER -t TTL -a -w FILE]  -> traffic:
  import monconn [CONFIG] [-- -c CONFIG -p LISTEN=BACKEND... -D]       -> forward:
  import rust-network-mgr [CONFIG]                                     -> addresses:
  import ddclient [/etc/ddclient.conf] [-- --secret-dir DIR]           -> checks: ddns:
Unreadable input: one FILE:LINE: key: reason per problem, exit status 2.
"""


def error_text(e: BaseException) -> str:
    """One line for an error reply, as the line protocol prints it (never a traceback)."""
    text = getattr(e, "description", None) or str(e) or type(e).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return re.sub(r"^Code<[A-Z_]+>: ", "", str(text)).splitlines()[0] if text else "failed"


async def _run(reactor: Any, args: argparse.Namespace) -> int:
    endpoint = endpoints.UNIXClientEndpoint(reactor, args.socket, timeout=5)
    try:
        client = await endpoints.connectProtocol(endpoint, _Client(args.json))
    except Exception as e:
        print(f"netsentinel-ctl: cannot reach {args.socket}: {e}", file=sys.stderr)
        return 3
    if args.command == ["watch"]:
        await client.callRemote(Watch)
        await client.closed
        return 0
    try:
        result = await client.callRemote(Call, words=args.command)
    except Exception as e:   # the daemon's refusal (COMMAND_ERROR) or a connection lost mid-reply
        print(f"ERROR: {error_text(e)}", file=sys.stderr)
        return 1
    finally:
        client.transport.loseConnection()
    reply = result["reply"]
    print(json.dumps(reply, indent=2, sort_keys=True) if args.json else render(reply))
    return 1 if isinstance(reply, str) and reply.startswith("ERROR") else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="netsentinel-ctl",
        description="Control a running netsentinel: status, reload, ping, update, watch, "
                    "check-config FILE, import TOOL, and every feature's commands (try 'help').",
        epilog=IMPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="control socket path")
    parser.add_argument("--json", action="store_true", help="print the raw JSON reply")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command and its arguments")
    args = parser.parse_args(argv)
    if args.command[:1] == ["import"]:     # before --json handling: the words are the tool's
        if len(args.command) < 2 or args.command[1] not in importers.TOOLS:
            parser.error(f"import takes a TOOL: {', '.join(importers.TOOLS)}")
        sys.exit(import_config(args.command[1], args.command[2:]))
    # --json may also follow the command (`forward stats --json`), as monconn users type it
    if "--json" in args.command:
        args.command = [w for w in args.command if w != "--json"]
        args.json = True
    if not args.command:
        parser.error("a command is required (try 'help')")
    if args.command[0] == "check-config":
        if len(args.command) != 2:
            parser.error("check-config takes one FILE")
        sys.exit(check_config(args.command[1]))
    holder: list[int] = []

    def run(reactor: Any) -> defer.Deferred[None]:
        return defer.ensureDeferred(_run(reactor, args)).addCallback(holder.append)
    try:
        task.react(run)
    except SystemExit as e:
        if e.code not in (0, None) or not holder:
            raise
    sys.exit(holder[0] if holder else 1)
