"""Every store the contract tests run against, in one place: a new store is one more line in each registry."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from adapters.postgres import PostgresJobStore, PostgresRequestInbox
from adapters.sqlite import SqliteJobStore
from adapters.sqlite.inbox import SqliteRequestInbox
from adapters.sqlite.received import SqliteReceivedFaxes
from bridge.ports import JobStore, ReceivedFaxes, RequestInbox
from bridge.testing import InMemoryInbox, InMemoryJobStore, InMemoryReceivedFaxes


@contextlib.asynccontextmanager
async def _sqlite_store(root: Path) -> AsyncIterator[SqliteJobStore]:
    store = SqliteJobStore(root / "db" / "faxbridge.db", root / "spool")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _postgres_store(root: Path) -> AsyncIterator[PostgresJobStore]:
    # A new database on the private server, made and dropped by the postgres_url fixture.
    store = PostgresJobStore(_POSTGRES_URL[root], root / "spool")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _postgres_inbox(root: Path) -> AsyncIterator[RequestInbox]:
    async with _postgres_store(root) as store:
        yield PostgresRequestInbox(store)


@contextlib.asynccontextmanager
async def _memory_store(_: Path) -> AsyncIterator[InMemoryJobStore]:
    yield InMemoryJobStore()


@contextlib.asynccontextmanager
async def _sqlite_inbox(root: Path) -> AsyncIterator[RequestInbox]:
    async with _sqlite_store(root) as store:
        yield SqliteRequestInbox(store)


@contextlib.asynccontextmanager
async def _memory_inbox(_: Path) -> AsyncIterator[RequestInbox]:
    yield InMemoryInbox()


@contextlib.asynccontextmanager
async def _sqlite_received(root: Path) -> AsyncIterator[tuple[ReceivedFaxes, JobStore]]:
    async with _sqlite_store(root) as store:
        yield SqliteReceivedFaxes(store), store


@contextlib.asynccontextmanager
async def _memory_received(_: Path) -> AsyncIterator[tuple[ReceivedFaxes, JobStore]]:
    jobs = InMemoryJobStore()
    yield InMemoryReceivedFaxes(jobs), jobs


# Each takes an empty directory of its own and gives a new, open store, closed after the test.
STORES: dict[str, Callable[[Path], AbstractAsyncContextManager[JobStore]]] = {
    "sqlite": _sqlite_store,
    "memory": _memory_store,
    "postgres": _postgres_store,
}
INBOXES: dict[str, Callable[[Path], AbstractAsyncContextManager[RequestInbox]]] = {
    "sqlite": _sqlite_inbox,
    "memory": _memory_inbox,
    "postgres": _postgres_inbox,
}
# The database each PostgreSQL store of a test uses, by the test's directory.
_POSTGRES_URL: dict[Path, str] = {}
# Received faxes, with the jobs store they read (a fax answers the sender of a job).
RECEIVED: dict[str, Callable[[Path], AbstractAsyncContextManager[tuple[ReceivedFaxes, JobStore]]]] = {
    "sqlite": _sqlite_received,
    "memory": _memory_received,
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    """Every registered store in turn: the contract tests run against each."""
    _database(request, tmp_path)
    async with STORES[request.param](tmp_path) as opened:
        yield opened


@pytest.fixture(params=sorted(INBOXES))
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RequestInbox]:
    """Every registered request inbox in turn."""
    _database(request, tmp_path)
    async with INBOXES[request.param](tmp_path) as opened:
        yield opened


def _database(request: pytest.FixtureRequest, root: Path) -> None:
    """Give a PostgreSQL store its own database (the private server starts on first use)."""
    if request.param == "postgres":
        _POSTGRES_URL[root] = request.getfixturevalue("postgres_url")


@pytest.fixture(params=sorted(RECEIVED))
async def received(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ReceivedFaxes, JobStore]]:
    """Every registered store of received faxes in turn, with its jobs."""
    async with RECEIVED[request.param](tmp_path) as opened:
        yield opened
