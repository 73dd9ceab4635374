"""Which store a bridge uses: SQLite by default, PostgreSQL when FAXBRIDGE_DATABASE_URL names one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from adapters.postgres import PostgresJobStore, PostgresRequestInbox
from adapters.postgres.leader import Leadership
from adapters.postgres.ratelimit import PostgresBudget
from adapters.sqlite import SqliteJobStore
from adapters.sqlite.inbox import SqliteRequestInbox
from bridge.ports import JobStore, RequestInbox
from bridge.settings import Settings


@dataclass(frozen=True)
class Group:
    """What bridges sharing one database share beyond its tables: one leader, and word of status changes."""

    leadership: Leadership
    budget: PostgresBudget  # RingCentral's rate budget, spent by all together
    nudge_status: Callable[[], Coroutine[Any, Any, None]]  # tell the leader the provider reported a change
    subscribe_status: Callable[[Callable[[], None]], None]


@dataclass(frozen=True)
class OpenStore:
    """An opened store, its request inbox, and how to name it to an operator (no password)."""

    store: JobStore
    inbox: RequestInbox
    where: str
    shared: bool  # several bridges may use it at once
    # Calls a listener after every write that may owe a notice (PostgreSQL: by any instance).
    subscribe: Callable[[Callable[[], None]], None]
    group: Group | None = None  # set when several bridges may share the store


def describe(url: str) -> str:
    """A database URL without its password, for logs and `faxbridge check`."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def new_store(settings: Settings, *, connect_timeout: float = 30.0) -> OpenStore:
    """The configured store, not yet opened; a PostgreSQL server must answer within `connect_timeout`."""
    if settings.store.uses_postgres:
        pg = PostgresJobStore(settings.store.database_url, settings.store.spool_dir, connect_timeout=connect_timeout)
        group = Group(
            Leadership(settings.store.database_url), PostgresBudget(pg), pg.nudge_status, pg.subscribe_status
        )
        return OpenStore(
            pg,
            PostgresRequestInbox(pg),
            describe(settings.store.database_url),
            shared=True,
            subscribe=pg.subscribe,
            group=group,
        )
    lite = SqliteJobStore(settings.store.database_path, settings.store.spool_dir)
    return OpenStore(
        lite, SqliteRequestInbox(lite), str(settings.store.database_path), shared=False, subscribe=lite.subscribe
    )


async def open_store(settings: Settings, *, connect_timeout: float = 30.0) -> OpenStore:
    """The configured store, opened (and migrated); close it with `store.close()`."""
    opened = new_store(settings, connect_timeout=connect_timeout)
    store = opened.store
    assert isinstance(store, SqliteJobStore | PostgresJobStore)
    await store.open()
    return opened


@contextlib.asynccontextmanager
async def store_open(settings: Settings, *, connect_timeout: float = 30.0) -> AsyncIterator[OpenStore]:
    """The configured store, open for the block."""
    opened = await open_store(settings, connect_timeout=connect_timeout)
    try:
        yield opened
    finally:
        await opened.store.close()
