"""``hexdump -C`` style lines for the ``print_bytes`` log."""

from __future__ import annotations

_PRINTABLE = bytes(b if 32 <= b < 127 else ord(".") for b in range(256))


def hexdump(data: bytes, limit: int) -> list[str]:
    """One line per 16 bytes: offset, hex, ASCII; a last line tells what was cut."""
    shown = data[:limit]
    lines = []
    for offset in range(0, len(shown), 16):
        row = shown[offset:offset + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        if len(row) > 8:
            hexes = hexes[:23] + " " + hexes[23:]
        lines.append(f"{offset:08x}  {hexes:<49} |{row.translate(_PRINTABLE).decode()}|")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes not shown")
    return lines
