"""SqliteRequestInbox: the RequestInbox port on the job store's own database, connection and thread."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from adapters.sqlite.store import SqliteJobStore
from bridge.model import Channel
from bridge.ports import InboxItem


def _ts(moment: datetime) -> float:
    return moment.timestamp()


class SqliteRequestInbox:
    """Requests in the `request_inbox` table; their one-time keys share `seen_keys` with the store.

    It runs on the store's single worker thread and transactions, so a request and its keys
    are committed (and fsynced) together, in order with every other write. The worker's own
    bookkeeping (attempts, answers, finishing) survives the process dying without an fsync: a
    machine crash can only make a request be done again, and doing one again is harmless.
    """

    def __init__(self, store: SqliteJobStore) -> None:
        self._store = store

    async def admit(
        self, *, channel: Channel, keys: Sequence[str], payload: str, now: datetime
    ) -> int | None:
        wanted = list(keys)

        def insert(conn: sqlite3.Connection) -> int | None:
            fresh = [
                conn.execute(
                    "INSERT OR IGNORE INTO seen_keys (key, at) VALUES (?, ?)", (key, _ts(now))
                ).rowcount
                == 1
                for key in wanted
            ]
            if not all(fresh):
                return None
            cursor = conn.execute(
                "INSERT INTO request_inbox (channel, payload, received, due_at) VALUES (?, ?, ?, ?)",
                (channel.value, payload, _ts(now), _ts(now)),
            )
            return cursor.lastrowid

        return await self._store._run(self._store._tx, insert)

    async def due(self, channel: Channel, now: datetime, limit: int = 50) -> list[InboxItem]:
        rows = await self._store._run(
            lambda: self._store.conn.execute(
                "SELECT id, channel, payload, received, attempts, answer FROM request_inbox"
                " WHERE channel = ? AND finished IS NULL AND due_at <= ? ORDER BY id LIMIT ?",
                (channel.value, _ts(now), limit),
            ).fetchall()
        )
        return [
            InboxItem(
                id=row["id"],
                channel=Channel(row["channel"]),
                payload=row["payload"] or "",
                received=datetime.fromtimestamp(row["received"], UTC),
                attempts=row["attempts"],
                answer=row["answer"],
            )
            for row in rows
        ]

    async def begin(self, item_id: int) -> int:
        def count(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE request_inbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))
            row = conn.execute("SELECT attempts FROM request_inbox WHERE id = ?", (item_id,)).fetchone()
            return int(row["attempts"]) if row else 0

        return await self._store._run(functools.partial(self._store._tx, durable=False), count)

    async def decide(self, item_id: int, answer: str) -> None:
        await self._update("UPDATE request_inbox SET answer = ? WHERE id = ?", (answer, item_id))

    async def postpone(self, item_id: int, until: datetime) -> None:
        await self._update("UPDATE request_inbox SET due_at = ? WHERE id = ?", (_ts(until), item_id))

    async def finish(self, item_id: int, *, now: datetime) -> None:
        # The payload holds what people wrote and links to their files: not kept once it is done.
        await self._update(
            "UPDATE request_inbox SET finished = ?, payload = NULL, answer = NULL WHERE id = ?",
            (_ts(now), item_id),
        )

    async def purge_finished(self, before: datetime) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM request_inbox WHERE finished IS NOT NULL AND finished < ?", (_ts(before),)
            ).rowcount

        return await self._store._run(functools.partial(self._store._tx, durable=False), delete)

    async def _update(self, sql: str, args: tuple[object, ...]) -> None:
        await self._store._run(
            functools.partial(self._store._tx, durable=False), lambda conn: conn.execute(sql, args)
        )
