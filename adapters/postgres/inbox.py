"""PostgresRequestInbox: the RequestInbox port on the PostgreSQL store's database and pool."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.postgres.store import Cursor, PostgresJobStore
from bridge.model import Channel
from bridge.ports import InboxItem


class PostgresRequestInbox:
    """Requests in `request_inbox`; their one-time keys share `seen_keys` with the store.

    A request and its keys are committed together (durably). The worker's own bookkeeping
    skips the wait for the flush: only a crash of the database server could make a request be
    done again, and doing one again is harmless. The same holds when two instances' workers
    begin the same request at once: the fax it becomes is found by its idempotency key.
    """

    def __init__(self, store: PostgresJobStore) -> None:
        self._store = store

    async def admit(
        self, *, channel: Channel, keys: Sequence[str], payload: str, now: datetime
    ) -> int | None:
        wanted = list(keys)

        async def insert(cur: Cursor) -> int | None:
            for key in wanted:
                await cur.execute(
                    "INSERT INTO seen_keys (key, at) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, now)
                )
                if cur.rowcount != 1:
                    # Seen before: roll back the keys this request stored too, and store nothing.
                    raise _Seen
            await cur.execute(
                "INSERT INTO request_inbox (channel, payload, received, due_at) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (channel.value, payload, now, now),
            )
            row = await cur.fetchone()
            await self._store._notify(cur)
            return int(row["id"]) if row else None

        try:
            item = await self._store._run(insert)
        except _Seen:
            return None
        self._store._changed()
        return item

    async def due(self, channel: Channel, now: datetime, limit: int = 50) -> list[InboxItem]:
        async def query(cur: Cursor) -> list[InboxItem]:
            await cur.execute(
                "SELECT id, channel, payload, received, attempts, answer FROM request_inbox"
                " WHERE channel = %s AND finished IS NULL AND due_at <= %s ORDER BY id LIMIT %s",
                (channel.value, now, limit),
            )
            return [
                InboxItem(
                    id=row["id"],
                    channel=Channel(row["channel"]),
                    payload=row["payload"] or "",
                    received=row["received"],
                    attempts=row["attempts"],
                    answer=row["answer"],
                )
                for row in await cur.fetchall()
            ]

        return await self._store._read(query)

    async def begin(self, item_id: int) -> int:
        async def count(cur: Cursor) -> int:
            await cur.execute(
                "UPDATE request_inbox SET attempts = attempts + 1 WHERE id = %s RETURNING attempts",
                (item_id,),
            )
            row = await cur.fetchone()
            return int(row["attempts"]) if row else 0

        return await self._store._run(count, durable=False)

    async def decide(self, item_id: int, answer: str) -> None:
        await self._update("UPDATE request_inbox SET answer = %s WHERE id = %s", (answer, item_id))

    async def postpone(self, item_id: int, until: datetime) -> None:
        await self._update("UPDATE request_inbox SET due_at = %s WHERE id = %s", (until, item_id))

    async def finish(self, item_id: int, *, now: datetime) -> None:
        # The payload holds what people wrote and links to their files: not kept once it is done.
        await self._update(
            "UPDATE request_inbox SET finished = %s, payload = NULL, answer = NULL WHERE id = %s",
            (now, item_id),
        )

    async def purge_finished(self, before: datetime) -> int:
        async def delete(cur: Cursor) -> int:
            await cur.execute(
                "DELETE FROM request_inbox WHERE finished IS NOT NULL AND finished < %s", (before,)
            )
            return cur.rowcount

        return await self._store._run(delete, durable=False)

    async def _update(self, sql: str, args: tuple[object, ...]) -> None:
        async def update(cur: Cursor) -> None:
            await cur.execute(sql.encode(), args)

        await self._store._run(update, durable=False)


class _Seen(Exception):
    """A one-time key of the request was seen before: the whole admission is rolled back."""
