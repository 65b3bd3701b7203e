"""bash completion for netsentinel-ctl (contrib/bash-completion/netsentinel-ctl), sourced in
a real bash and driven as readline drives it (COMP_WORDS, COMP_CWORD, then the function
``complete -p`` names), against a daemon running in a lab namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentinel.cli import importers
from tests.lab import ROOT, Daemon, Lab, require

COMPLETION = ROOT / "contrib" / "bash-completion" / "netsentinel-ctl"
CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))
CONFIG = """\
addresses:
  nftables: {table: inet nscompl, create: true}
  interfaces:
    lo: {zone: lan}
forward:
  ssh: {listen: '127.0.0.1:2222', backend: '127.0.0.1:22'}
  web: {listen: '127.0.0.1:8080', backend: '127.0.0.1:80'}
"""

# what bash does on TAB: the words so far, the index of the one completed, then the
# function registered for the command, called with (command, current word, previous word)
_DRIVE = """
source "$0"
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
spec=$(complete -p netsentinel-ctl)
function=${spec#*-F }
function=${function%% *}
"$function" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


def complete(words: list[str], cwd: Path) -> set[str]:
    """The completions bash offers for the last of ``words`` (netsentinel-ctl is the first)."""
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", _DRIVE, str(COMPLETION),
                             CTL, *words], capture_output=True, text=True, timeout=30,
                            cwd=cwd, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return {line for line in result.stdout.splitlines() if line}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    require("bash", "timeout", "python3")
    lab = Lab()
    try:
        running = Daemon(lab, lab.netns("compl"), tmp_path_factory.mktemp("compl"),
                         CONFIG).start()
        yield running
    finally:
        lab.close()


def test_first_word_offers_the_daemons_commands_and_the_local_ones(
        daemon: Daemon, tmp_path: Path) -> None:
    offered = complete(["--socket", daemon.socket, ""], tmp_path)
    assert {"status", "reload", "ping", "help", "update", "metrics", "version", "reject",
            "release", "addresses", "forward", "check-config", "import", "watch"} <= offered
    assert "stats" not in offered and "sync" not in offered     # second words come later
    assert complete(["--socket", daemon.socket, "re"], tmp_path) == {
        "reject", "release", "reload", "restart"}


def test_a_features_subcommands_come_from_the_daemon(daemon: Daemon, tmp_path: Path) -> None:
    commands = daemon.ctl("help").removeprefix("commands: ").split(", ")
    subcommands = {command.split()[1] for command in commands
                   if command.startswith("forward ")}
    assert {"ban", "bans", "start", "stats", "stop", "sync", "unban"} <= subcommands
    assert complete(["--socket", daemon.socket, "forward", ""], tmp_path) == subcommands
    assert complete(["--socket", daemon.socket, "addresses", ""], tmp_path) == {"sync"}


def test_service_names_come_from_the_running_daemons_status(
        daemon: Daemon, tmp_path: Path) -> None:
    assert complete(["--socket", daemon.socket, "forward", "stats", ""], tmp_path) == {
        "ssh", "web"}
    assert complete(["--json", "--socket", daemon.socket, "forward", "stop", "w"],
                    tmp_path) == {"web"}
    assert complete(["--socket", daemon.socket, "reject", ""], tmp_path) == {"ssh", "web"}
    # after the service: nothing more is known (an IP address, or the end)
    assert complete(["--socket", daemon.socket, "forward", "stats", "ssh", ""],
                    tmp_path) == set()


def test_options_files_and_import_tools(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "router.yaml").write_text("{}\n")
    assert complete(["--socket", daemon.socket, "--j"], tmp_path) == {"--json"}
    assert complete(["--socket", daemon.socket, "check-config", "rou"], tmp_path) == {
        "router.yaml"}
    assert complete(["--socket", "rou"], tmp_path) == {"router.yaml"}
    assert complete(["import", ""], tmp_path) == set(importers.TOOLS)
    assert complete(["import", "r"], tmp_path) == {"rust-network-mgr"}


def test_without_a_daemon_only_the_local_commands(tmp_path: Path) -> None:
    assert complete(["--socket", str(tmp_path / "absent.sock"), ""], tmp_path) == {
        "check-config", "help", "import", "watch"}
    assert complete(["--socket", str(tmp_path / "absent.sock"), "forward", "stats", ""],
                    tmp_path) == set()
