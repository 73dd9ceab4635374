"""The reliability suite drives real processes: each test gets a `world` that stops them all afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Stand-ins, relays, fake Slacks and serve processes made on demand, all stopped after the test."""
    with World(tmp_path) as made:
        yield made
