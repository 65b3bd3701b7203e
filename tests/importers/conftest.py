"""What the importer tests share: a scratch directory under /tmp for configs and secrets."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="ns-import-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)
