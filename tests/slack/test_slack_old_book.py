"""Status messages kept by older versions in a database of their own are brought into the store once."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from adapters.slack.messages import OLD_BOOK, adopt_old_book
from bridge.ports import JobStore
from tests.core import stores

store = stores.store  # every registered store in turn (tests/core/stores.py)


def _old_book(path: Path, rows: list[tuple[str, str, str]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE status_messages (job_id TEXT PRIMARY KEY, channel TEXT NOT NULL, ts TEXT NOT NULL)"
    )
    conn.executemany("INSERT INTO status_messages VALUES (?, ?, ?)", rows)
    conn.close()


async def test_the_old_books_rows_move_into_the_store_and_the_file_goes(
    store: JobStore, tmp_path: Path
) -> None:
    """Every row is brought over unless the store already knows a newer place; then the old files are removed.

    Mutation caught: overwriting what the store already has with the old book's row.
    """
    path = tmp_path / OLD_BOOK
    _old_book(path, [("j1", "C1", "1.1"), ("j2", "C2", "2.2")])
    await store.keep_message("j2", "D9", "9.9")
    assert await adopt_old_book(path, store) == 2
    assert await store.message_of("j1") == ("C1", "1.1")
    assert await store.message_of("j2") == ("D9", "9.9")
    assert [name for name in os.listdir(tmp_path) if name.startswith(OLD_BOOK)] == []
    assert await adopt_old_book(path, store) == 0  # nothing left to bring over


async def test_an_unreadable_old_book_is_left_alone(store: JobStore, tmp_path: Path) -> None:
    """A file that is not a database is reported and kept, never a crash at start."""
    path = tmp_path / OLD_BOOK
    path.write_bytes(b"not a database, " * 100)
    assert await adopt_old_book(path, store) == 0
    assert OLD_BOOK in os.listdir(tmp_path)
