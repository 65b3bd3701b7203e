"""An IPv4 echo responder that answers every echo request after a delay (netem's job).

Run as ``python slow_echo.py DELAY READYFILE`` in a namespace whose kernel does not
answer pings itself (``net.ipv4.icmp_echo_ignore_all=1``): a raw ICMP socket sees
every request all the same, and each reply (same identifier, sequence and payload)
is sent DELAY seconds after its request came in.  READYFILE appears once the
socket is open.  The ``netem`` qdisc would do this in the kernel, but this
machine's kernel lacks it.
"""

from __future__ import annotations

import heapq
import select
import socket
import struct
import sys
import time
from pathlib import Path


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def reply_to(packet: bytes) -> bytes | None:
    """The echo reply for an IPv4 packet holding an echo request, else None."""
    header = (packet[0] & 0x0F) * 4
    icmp = packet[header:]
    if len(icmp) < 8 or icmp[0] != 8:
        return None
    body = b"\0\0\0\0" + icmp[4:]                    # type 0, code 0, checksum 0
    return b"\0\0" + struct.pack("!H", checksum(body)) + body[4:]


def main() -> None:
    delay, ready = float(sys.argv[1]), Path(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ready.touch()
    due: list[tuple[float, int, bytes, str]] = []
    count = 0
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            packet, (source, _) = sock.recvfrom(65535)
            answer = reply_to(packet)
            if answer is not None:
                count += 1
                heapq.heappush(due, (time.monotonic() + delay, count, answer, source))
        while due and due[0][0] <= time.monotonic():
            _, _, answer, source = heapq.heappop(due)
            sock.sendto(answer, (source, 0))


if __name__ == "__main__":
    main()
