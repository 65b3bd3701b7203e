"""A reload is all or nothing: one new listener that cannot bind refuses the whole reload."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.forward.test_daemon import closed_by_peer, dial, echo, echo_backend, inside
from tests.lab import Daemon, Lab, samples

BACKEND, FRONT, TAKEN = 19000, 19001, 19002

BEFORE = """
control:
  metrics: "127.0.0.1:19380"
forward:
  web:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
    per_ip_limit: 5
"""

# moves metrics, changes web in place and adds api on the taken port: all or nothing
AFTER = """
control:
  metrics: "127.0.0.1:19381"
forward:
  web:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
    per_ip_limit: 1
  api:
    listen: "127.0.0.1:{taken}"
    backend: "127.0.0.1:{backend}"
"""


def scrape(ns: str, port: int) -> dict[str, float]:
    with dial(ns, port) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = b"".join(iter(lambda: s.recv(65536), b""))
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
    return samples(body.decode())


def occupy(ns: str, port: int) -> socket.socket:
    """A plain listening socket of another program on ``port``."""
    with inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return s


def test_a_reload_that_cannot_bind_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    ns = lab.netns("rr")
    echo_backend(lab, ns, BACKEND)
    daemon = Daemon(lab, ns, tmp_path, BEFORE.format(front=FRONT, backend=BACKEND)).start()
    before = daemon.status()
    blocker = occupy(ns, TAKEN)
    try:
        daemon.write_config(AFTER.format(front=FRONT, backend=BACKEND, taken=TAKEN))
        reply = daemon.ctl("reload")
        assert reply == ("ERROR: reload refused, running configuration kept: "
                         f"{daemon.config}: forward.api.listen 127.0.0.1:{TAKEN}: "
                         "cannot listen: Address already in use"), reply
        after = daemon.status()
        assert after["reloads"] == {"ok": 0, "refused": 1, "failed": 0}
        assert after["metrics"] == before["metrics"]
        assert set(after["forward"]) == {"web"} and after["config"] == before["config"]
        assert after["forward"]["web"]["state"] == "running"
        assert scrape(ns, 19380)['netsentinel_reloads_total{result="refused"}'] == 1
        with dial(ns, FRONT) as s, dial(ns, FRONT) as t:      # per_ip_limit 5 still holds
            assert echo(s, b"old") == b"old" and echo(t, b"two") == b"two"
    finally:
        blocker.close()
    reply = daemon.ctl("reload")       # the same file, the port free now: applied whole
    assert reply == "OK: reloaded (changed: control.metrics, forward)", reply
    with dial(ns, TAKEN) as s:
        assert echo(s, b"api") == b"api"
    with dial(ns, FRONT) as s:
        assert echo(s, b"web") == b"web"
        with dial(ns, FRONT) as t:
            assert closed_by_peer(t)                         # per_ip_limit 1 now
    m = scrape(ns, 19381)
    assert m['netsentinel_reloads_total{result="ok"}'] == 1
