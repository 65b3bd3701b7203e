"""The real daemon holding a master_only feature, with us writing keepalived's lines into
its FIFO: start, graceful stop, restart, and reloads while held."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.forward.test_daemon import dial, echo, echo_backend
from tests.lab import Daemon, Lab, wait_for

BACKEND, FRONT = 19000, 19001
CONFIG = """
ha:
  keepalived: {{notify_fifo: {fifo}, instance: VI_1}}
  master_only: {held}
forward:
  echo:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
    {extra}
"""


def config(tmp_path: Path, held: str = "[forward]", extra: str = "") -> str:
    return CONFIG.format(fifo=tmp_path / "notify.fifo", held=held, front=FRONT,
                         backend=BACKEND, extra=extra)


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Daemon:
    ns = lab.netns("r")
    echo_backend(lab, ns, BACKEND)
    return Daemon(lab, ns, tmp_path, config(tmp_path)).start()


def say(daemon: Daemon, state: str) -> None:
    fd = os.open(daemon.directory / "notify.fifo", os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, f'INSTANCE "VI_1" {state} 100\n'.encode())
    os.close(fd)


def serves(daemon: Daemon) -> bool:
    try:
        with dial(daemon.ns, FRONT) as s:
            return echo(s, b"ping") == b"ping"
    except OSError:
        return False


def test_held_feature_waits_for_master_and_stops_on_backup(daemon: Daemon) -> None:
    assert daemon.status()["ha"]["state"] == "unknown"
    assert not serves(daemon)
    say(daemon, "MASTER")
    wait_for(lambda: serves(daemon), what="forward started on MASTER")
    kept = dial(daemon.ns, FRONT)
    say(daemon, "BACKUP")
    wait_for(lambda: not daemon.status()["ha"]["features"]["forward"], what="forward stopped")
    assert not serves(daemon)
    kept.close()
    say(daemon, "MASTER")                     # a second start: a fresh child
    wait_for(lambda: serves(daemon), what="forward started again")
    assert daemon.status()["ha"]["transitions"] == 3


def test_reload_while_backup_keeps_the_feature_stopped(daemon: Daemon, tmp_path: Path) -> None:
    say(daemon, "BACKUP")
    wait_for(lambda: daemon.status()["ha"]["state"] == "backup", what="BACKUP")
    daemon.write_config(config(tmp_path, extra="connect_timeout: 7"))
    assert daemon.ctl("reload").startswith("OK: reloaded (changed: forward")
    assert not serves(daemon)
    say(daemon, "MASTER")
    wait_for(lambda: serves(daemon), what="the reloaded forward started on MASTER")


def test_reload_releasing_the_feature_starts_it(daemon: Daemon, tmp_path: Path) -> None:
    daemon.write_config(config(tmp_path, held="[]"))
    assert daemon.ctl("reload").startswith("OK: reloaded (changed: ha")
    wait_for(lambda: serves(daemon), what="forward runs when no longer held")
