"""Holds a tun interface open (as a VPN would) and writes packets given as hex lines.

Run inside a namespace: ``python tunhelper.py NAME``; prints ``ready`` once the
interface exists and ``sent`` after each packet, so the test never guesses.
"""

import fcntl
import os
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def main(name: str) -> None:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    print("ready", flush=True)
    for line in sys.stdin:
        os.write(fd, bytes.fromhex(line.strip()))
        print("sent", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
