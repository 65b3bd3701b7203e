from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.docker.engine import Dockerd
from tests.lab import Lab, require


@pytest.fixture
def router(lab: Lab) -> str:
    """The namespace where dockerd and the daemon both run (bridges and sets live here)."""
    return lab.netns("r")


@pytest.fixture
def dockerd(lab: Lab, router: str) -> Iterator[Dockerd]:
    """A private dockerd, its containers removed and it stopped even when the test fails."""
    require("dockerd", "containerd", "runc")
    engine = Dockerd(lab, router)
    try:
        yield engine.start()
    finally:
        engine.close()
