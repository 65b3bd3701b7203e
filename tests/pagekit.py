"""Reading rendered status-page HTML in tests: a section flattened to an element tree,
and a table's rows as the text of their cells."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from twisted.web.template import Tag, flattenString


def flat(section: Tag | str) -> ET.Element:
    """A synchronous flatten (no Deferred in a section) parsed as XML."""
    done: list[bytes] = []
    flattenString(None, section).addCallback(done.append)
    return ET.fromstring(done[0])


def rows(root: ET.Element, table_id: str) -> list[list[str]]:
    table = root.find(f".//table[@id='{table_id}']")
    assert table is not None, table_id
    return [["".join(c.itertext()) for c in tr] for tr in table.iter("tr")]
