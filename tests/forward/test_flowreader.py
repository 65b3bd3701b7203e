"""The kernel services' flow reader as a real child process: answers in order, a child
that dies fails what it had and the next request starts another."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor

from netsentinel.forward.flowreader import FlowReader, ReaderGone


@pytest_twisted.ensureDeferred
async def test_requests_are_answered_in_order_and_a_dead_child_is_replaced() -> None:
    reader = FlowReader(reactor)
    try:
        first = reader.read(socket.AF_INET, socket.IPPROTO_UDP, 9, "192.0.2.1", 9)
        second = reader.read(socket.AF_INET6, socket.IPPROTO_TCP, 9, "2001:db8::1", 9)
        assert await first == {"flows": []} and await second == {"flows": []}
        assert reader.child is not None and reader.child.transport is not None
        pid = reader.child.transport.pid
        hanging = reader.read(socket.AF_INET, socket.IPPROTO_UDP, 9, "192.0.2.1", 9)
        os.kill(pid, signal.SIGKILL)
        try:
            await hanging
        except ReaderGone:
            pass                    # it died before answering...
        else:
            pass                    # ...or answered first: both are fine
        again = await reader.read(socket.AF_INET, socket.IPPROTO_UDP, 9, "192.0.2.1", 9)
        assert again == {"flows": []} and reader.started == 2
    finally:
        reader.stop()


@pytest_twisted.ensureDeferred
async def test_a_bad_request_is_an_error_answer_not_a_dead_reader() -> None:
    reader = FlowReader(reactor)
    try:
        answer = await reader.read(socket.AF_INET, 255, 70000, "192.0.2.1", 9)
        assert "error" in answer
        assert await reader.read(socket.AF_INET, socket.IPPROTO_UDP, 9, "192.0.2.1", 9) == \
            {"flows": []}
        assert reader.started == 1
    finally:
        reader.stop()


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="reads conntrack (root)")
