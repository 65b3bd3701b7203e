"""The shared script runner with real processes: argv, no shell, timeout, bounded queue."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from netsentinel.actions import ActionRunner
from netsentinel.events import ActionFinished, EventBus
from netsentinel.traffic.config import SourceConfig, TriggerConfig
from netsentinel.traffic.packet import DLT_RAW, Batch
from netsentinel.traffic.trigger import Trigger
from tests.forward.peers import eventually
from tests.lab import wait_for
from tests.traffic.packets import udp4


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "s.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest_twisted.ensureDeferred
async def test_arguments_arrive_verbatim_without_a_shell(tmp_path: Path) -> None:
    runner = ActionRunner(reactor)
    result = await runner.run([script(tmp_path, 'printf "%s|" "$@"\n'), "a b", "$(id)", ";x"])
    assert result.ok and result.output == "a b|$(id)|;x|"


@pytest_twisted.ensureDeferred
async def test_exit_code_and_output_are_reported(tmp_path: Path) -> None:
    bus = EventBus()
    seen: list[ActionFinished] = []
    bus.subscribe(ActionFinished, seen.append)
    result = await ActionRunner(reactor, bus).run([script(tmp_path, "echo boom >&2; exit 3\n")])
    assert (result.code, result.reason, result.output) == (3, "exit", "boom")
    assert seen[0].code == 3


@pytest_twisted.ensureDeferred
async def test_hanging_script_is_killed_after_timeout(tmp_path: Path) -> None:
    runner = ActionRunner(reactor, timeout=0.3)
    result = await runner.run([script(tmp_path, "exec sleep 60\n")])
    assert result.reason == "timeout" and result.code is None
    assert runner.running == 0


@pytest_twisted.ensureDeferred
async def test_queue_is_bounded(tmp_path: Path) -> None:
    runner = ActionRunner(reactor, concurrency=1, queue_limit=2, timeout=5)
    slow = script(tmp_path, "exec sleep 0.3\n")
    calls = [runner.run([slow]) for _ in range(5)]
    assert runner.running == 1 and runner.status().queued == 2
    results = [await d for d in calls]
    assert [r.reason for r in results].count("dropped") == 2
    assert runner.dropped == 2 and runner.running == 0


@pytest_twisted.ensureDeferred
async def test_missing_program_fails_cleanly(tmp_path: Path) -> None:
    result = await ActionRunner(reactor).run([str(tmp_path / "absent")])
    assert not result.ok


# -- a script is finished when its process exits (tuninetd's runtunnel.sh starts ssh -f)

def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def pid_in(path: Path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip(), 10, what=f"{path} written")
    return int(path.read_text())


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest_twisted.ensureDeferred
async def test_child_holding_the_output_does_not_hold_the_action(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    runner = ActionRunner(reactor, timeout=60)
    result = await runner.run([script(tmp_path, f"echo started\nsleep 300 &\necho $! > {pidfile}\n")])
    child = pid_in(pidfile)
    try:
        assert (result.ok, result.reason, result.output) == (True, "exit", "started")
        assert runner.running == 0 and alive(child)       # finished, the child left running
        await eventually(lambda: runner.lingering == 1)   # and reported once
    finally:
        kill_quietly(child)


@pytest.mark.parametrize("body", [
    "sleep 300\n",                              # sh waits for its sleep: TERM to sh alone left it
    "sleep 300 &\necho $! > {pidfile}\nwait\n",  # a backgrounded child, the script waiting
])
@pytest_twisted.ensureDeferred
async def test_timeout_kills_the_whole_process_group_and_frees_the_slot(
        tmp_path: Path, body: str) -> None:
    pidfile = tmp_path / "child.pid"
    text = body.format(pidfile=pidfile) if "{pidfile}" in body else \
        f"echo $$ > {pidfile}.sh\n" + body
    runner = ActionRunner(reactor, concurrency=1, timeout=0.5)
    pending = runner.run([script(tmp_path, text)])
    later = runner.run(["/bin/true"])
    result = await pending
    assert result.reason == "timeout" and result.code is None
    if pidfile.exists():
        child = int(pidfile.read_text())
        await eventually(lambda: not alive(child))
    else:
        leader = int(Path(f"{pidfile}.sh").read_text())
        await eventually(lambda: not any(group_of(p) == leader for p in all_pids()))
    assert (await later).ok and runner.running == 0


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid) if alive(pid) else None
    except ProcessLookupError:
        return None


@pytest_twisted.ensureDeferred
async def test_stop_starts_nothing_queued_and_leaves_no_script_running(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    runner = ActionRunner(reactor, concurrency=1, timeout=60)
    running = runner.run([script(tmp_path, f"sleep 300 &\necho $! > {pidfile}\nwait\n")])
    queued = runner.run(["/bin/true"])
    child = pid_in(pidfile)
    await runner.stop()
    assert (await running).reason == "stopped" and (await queued).reason == "stopped"
    assert runner.running == 0
    await eventually(lambda: not alive(child))     # TERM reached the whole group
    assert (await runner.run(["/bin/true"])).reason == "stopped"


@pytest_twisted.ensureDeferred
async def test_runtunnel_shaped_start_makes_the_trigger_active_and_standby_answers(
        tmp_path: Path) -> None:
    """runtunnel.sh: ``start`` runs ``ssh -f``, which leaves a daemon in its own session
    holding the script's stdout; ``stop`` kills it."""
    pidfile = tmp_path / "tunnel.pid"
    tunnel = script(tmp_path, f"""case "$1" in
start) setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & ;;
stop) kill "$(cat {pidfile})" ;;
esac
""")
    config = TriggerConfig("vpn", (SourceConfig("tun9"),), (tunnel,), idle=600.0)
    trigger = Trigger(config, reactor, ActionRunner(reactor, timeout=30), lambda e: None)
    trigger.receive(Batch.of(DLT_RAW, [udp4("10.0.0.2", "10.0.0.1", 1000, 53)]), "tun9")
    child = pid_in(pidfile)
    try:
        await eventually(lambda: trigger.state.value == "active")
        assert await trigger.standby() == "vpn is in standby"
        await eventually(lambda: not alive(child))
    finally:
        kill_quietly(child)


@pytest_twisted.ensureDeferred
async def test_an_argument_too_long_for_exec_arrives_as_a_file(tmp_path: Path) -> None:
    """20,000 IPv6 addresses comma-joined are ~800 KB: exec refuses one argument over
    128 KiB ("Argument list too long"), so it comes as @FILE, removed afterwards."""
    addresses = ",".join(f"2001:db8::{i:x}" for i in range(20_000)) * 2
    body = 'f="${2#@}"; printf "%s %s " "$1" "$3"; test -O "$f" && wc -c < "$f"; echo "$2"\n'
    result = await ActionRunner(reactor).run([script(tmp_path, body), "eth0", addresses, "-"])
    size, path = result.output.split()[2:]
    assert result.ok and result.output.startswith("eth0 - ")
    assert int(size) == len(addresses) and path.startswith("@")
    assert not Path(path[1:]).exists()
