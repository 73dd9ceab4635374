"""Shared fixtures: settings on a temporary data directory, and a clock tests can move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.settings import Settings
from tests.helpers.postgres import PostgresServer, find_bin, in_ci, running_postgres


class Clock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "retry_delay_seconds": "60",
            "poll_seconds": "0.05",
            "sandbox_delay_seconds": "0.05",
        }
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the whole run, started only when a test asks for it."""
    if find_bin() is None:
        message = "PostgreSQL's server binaries are missing (.ci/ensure-postgres installs them)"
        if in_ci():
            pytest.fail(message + " - in CI these tests must run, not be skipped")
        pytest.skip(message)
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the private server, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
