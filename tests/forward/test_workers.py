"""``forward.workers``: the main process admits, worker processes relay; in a namespace,
with the real daemon and a socat echo backend."""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
from pathlib import Path
from typing import Any

from netsentinel.fdbudget import default_conn_limit
from tests.forward.test_daemon import dial, echo, echo_backend
from tests.lab import Daemon, Lab, wait_for

BACKEND = 19220
FRONT = 19221

CONFIG = """
forward:
  workers: {workers}
  worker_priority: 3
  web:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
    conn_limit: {limit}
    conn_limit_action: reject
    wait_timeout: 5
"""


def start(lab: Lab, tmp_path: Path, workers: int = 3, limit: int = 0) -> tuple[str, Daemon]:
    ns = lab.netns("w")
    echo_backend(lab, ns, BACKEND)
    text = CONFIG.format(workers=workers, front=FRONT, backend=BACKEND, limit=limit)
    daemon = Daemon(lab, ns, tmp_path, text).start()
    wait_for(lambda: len(workers_of(daemon)) == workers, what="workers up")
    return ns, daemon


def workers_of(daemon: Daemon) -> dict[str, dict[str, int]]:
    return json.loads(daemon.ctl("forward workers --json"))  # type: ignore[no-any-return]


def ended(s: socket.socket) -> bool:
    """The peer closed (or reset) this connection; False while it is open and quiet."""
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def service(daemon: Daemon) -> dict[str, Any]:
    return daemon.status()["forward"]["web"]  # type: ignore[no-any-return]


def test_connections_spread_over_workers_and_stats_are_their_sum(lab: Lab,
                                                                  tmp_path: Path) -> None:
    ns, daemon = start(lab, tmp_path)
    clients = [dial(ns, FRONT) for _ in range(9)]
    try:
        for i, s in enumerate(clients):
            assert echo(s, b"x" * (i + 1)) == b"x" * (i + 1)
        spread = workers_of(daemon)
        assert sorted(w["connections"] for w in spread.values()) == [3, 3, 3]
        assert {os.getpriority(os.PRIO_PROCESS, w["pid"]) for w in spread.values()} == {3}
        # no conn_limit set: the default cap is what 3 workers' descriptors carry
        assert service(daemon)["conn_limit"] == 3 * default_conn_limit(
            resource.getrlimit(resource.RLIMIT_NOFILE)[1])   # the daemon raises its soft limit
        assert {w["pid"] for w in spread.values()} - {daemon.process.pid if daemon.process
                                                      else 0} == {w["pid"] for w in
                                                                  spread.values()}
        wait_for(lambda: service(daemon)["up"] == 45, what="live bytes reported")
        stats = json.loads(daemon.ctl("forward stats web --json"))
        assert stats["connections"] == 9 and len(stats["open"]) == 9
        assert sum(c["down"] for c in stats["open"]) == 45
    finally:
        for s in clients:
            s.close()
    wait_for(lambda: service(daemon)["connections"] == 0, what="all closed")
    state = service(daemon)
    assert (state["up"], state["down"], state["closed_connections"]) == (45, 45, 9)
    assert 'netsentinel_forward_bytes_total{service="web",direction="up"} 45' in \
        daemon.ctl("metrics")


def test_conn_limit_is_exact_across_workers(lab: Lab, tmp_path: Path) -> None:
    ns, daemon = start(lab, tmp_path, limit=10)
    clients = [dial(ns, FRONT) for _ in range(30)]
    try:
        served = 0
        for s in clients:
            s.settimeout(10)
            try:
                served += echo(s, b"hi") == b"hi"
            except (ConnectionResetError, BrokenPipeError):
                pass
        assert served == 10
        assert service(daemon)["rejected"]["conn_limit"] == 20
        assert sum(w["connections"] for w in workers_of(daemon).values()) == 10
    finally:
        for s in clients:
            s.close()


def test_killed_worker_is_reported_and_replaced(lab: Lab, tmp_path: Path) -> None:
    ns, daemon = start(lab, tmp_path)
    clients = [dial(ns, FRONT) for _ in range(6)]
    try:
        for s in clients:
            assert echo(s, b"before") == b"before"
        victim = workers_of(daemon)["1"]
        os.kill(victim["pid"], signal.SIGKILL)
        wait_for(lambda: service(daemon)["closes"].get("worker-died") == victim["connections"],
                 what="its connections closed as worker-died")
        wait_for(lambda: sum(map(ended, clients)) == victim["connections"],
                 what="exactly its clients see the end")
        for s in clients:
            if not ended(s):
                assert echo(s, b"alive") == b"alive"    # the other workers' go on
        wait_for(lambda: workers_of(daemon).get("1", {}).get("pid") not in (None, victim["pid"]),
                 what="worker 1 restarted")
        with dial(ns, FRONT) as again:
            assert echo(again, b"after") == b"after"
        assert "worker 1" in daemon.output() and "died (signal 9)" in daemon.output()
    finally:
        for s in clients:
            s.close()


def test_stop_drains_workers_and_leaves_no_process(lab: Lab, tmp_path: Path) -> None:
    ns, daemon = start(lab, tmp_path, workers=2)
    pids = [w["pid"] for w in workers_of(daemon).values()]
    with dial(ns, FRONT) as s:
        assert echo(s, b"x") == b"x"
    daemon.stop()
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids),
             what="workers gone")



def nice_of_threads(pid: int) -> set[int]:
    """The nice value of every thread of ``pid`` (Linux keeps one per thread)."""
    return {os.getpriority(os.PRIO_PROCESS, int(tid))
            for tid in os.listdir(f"/proc/{pid}/task")}


def test_main_process_runs_at_control_priority_ahead_of_its_workers(lab: Lab,
                                                                    tmp_path: Path) -> None:
    """``control.priority`` is the main process's nice value, every thread of it; the
    workers keep ``worker_priority``; a reload that drops the key puts it back."""
    ns = lab.netns("w")
    echo_backend(lab, ns, BACKEND)
    text = CONFIG.format(workers=2, front=FRONT, backend=BACKEND, limit=0)
    daemon = Daemon(lab, ns, tmp_path, "control: {priority: -4}\n" + text).start()
    assert daemon.process is not None
    main = daemon.process.pid
    started = os.getpriority(os.PRIO_PROCESS, 0)    # the daemon inherits the test's
    wait_for(lambda: len(workers_of(daemon)) == 2, what="workers up")
    assert nice_of_threads(main) == {-4}
    assert {os.getpriority(os.PRIO_PROCESS, w["pid"]) for w in workers_of(daemon).values()} \
        == {3}
    assert daemon.status()["priority"] == {"wanted": -4, "nice": -4}
    with dial(ns, FRONT) as s:
        assert echo(s, b"x") == b"x"
    daemon.write_config(text)
    assert "control.priority" in daemon.ctl("reload")
    assert nice_of_threads(main) == {started} and "priority" not in daemon.status()
