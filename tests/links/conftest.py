"""Fixtures for links: a real HTTPS server on loopback, and a fetcher that trusts its test CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.links import LinkFetcher
from bridge.hosts import HostList
from bridge.metrics import Metrics
from bridge.spooling import Scratch
from bridge.workers import ThreadWorkers
from tests.helpers.links import LinkServer, Make, link_server


@pytest.fixture
async def server() -> AsyncIterator[LinkServer]:
    async with link_server() as running:
        yield running


@pytest.fixture
def scratch(tmp_path: Path) -> Scratch:
    return Scratch.create(tmp_path / "incoming")


@pytest.fixture
async def workers() -> AsyncIterator[ThreadWorkers]:
    pool = ThreadWorkers(2)
    yield pool
    await pool.close()


@pytest.fixture
def make_fetcher(server: LinkServer, workers: ThreadWorkers) -> Make:
    """A fetcher for `server`: its test CA trusted, its name resolved by the injected resolver."""

    def make(*, allowed: tuple[str, ...] = (), **options: Any) -> LinkFetcher:
        options.setdefault("resolve", server.resolve)
        options.setdefault("timeout", 10.0)
        options.setdefault("metrics", Metrics())
        options.setdefault("workers", workers)
        return LinkFetcher(allowed=HostList.parse(allowed), ssl_context=server.client_tls, **options)

    return make
