from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A network lab that is torn down whatever the test's outcome."""
    built = Lab()
    try:
        yield built
    finally:
        built.close()
