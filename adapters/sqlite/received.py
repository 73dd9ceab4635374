"""SqliteReceivedFaxes: the ReceivedFaxes port on the job store's database, thread and spool.

A received fax's document is synced into the spool (file, link, directory) before the row naming
it is committed with `synchronous=FULL`, as an accepted job's documents are. The provider id is
unique, so two looks keeping the same fax commit it once. A step a destination took
(`progress`) and a delivery done are committed durably before the next effect is asked for;
a failed try is bookkeeping that may be redone, and skips the fsync.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from adapters.sqlite.store import SqliteJobStore
from bridge.errors import DocumentMissing, ReceivedFaxNotFound
from bridge.model import Job
from bridge.received import Delivery, DeliveryState, Destination, IncomingFax, ReceivedFax

_FAX_COLUMNS = "id, provider_id, from_number, to_number, received, stored, pages, size, note, spool_name"
_DELIVERY_COLUMNS = "id, fax_id, destination, state, attempts, due_at, updated, reason, progress"


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class SqliteReceivedFaxes:
    """Received faxes in `received_faxes`, their deliveries in `received_deliveries`."""

    def __init__(self, store: SqliteJobStore) -> None:
        self._store = store

    async def receive(
        self,
        *,
        fax: IncomingFax,
        document: str | None,
        pages: int,
        destinations: Sequence[Destination],
        note: str | None,
        now: datetime,
    ) -> ReceivedFax | None:
        store = self._store
        loop = asyncio.get_running_loop()
        name: str | None = None
        size = 0
        if document is not None:
            source = Path(document)
            size = (await loop.run_in_executor(store._files, source.stat)).st_size
            name = await loop.run_in_executor(store._files, store.spool.adopt, source)
        fax_id = f"rx{secrets.token_hex(5)}"

        def insert(conn: sqlite3.Connection) -> bool:
            added = conn.execute(
                "INSERT OR IGNORE INTO received_faxes (id, provider_id, from_number, to_number, received,"
                " stored, pages, size, note, spool_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fax_id,
                    fax.provider_id,
                    fax.from_number,
                    fax.to_number,
                    _ts(fax.received),
                    _ts(now),
                    pages,
                    size,
                    note,
                    name,
                ),
            )
            if added.rowcount != 1:
                return False  # kept already: by another look, or before a restart
            conn.executemany(
                "INSERT INTO received_deliveries (fax_id, destination, state, due_at, updated)"
                " VALUES (?, ?, 'pending', ?, ?)",
                [(fax_id, str(destination), _ts(now), _ts(now)) for destination in destinations],
            )
            return True

        try:
            added = await store._run(store._tx, insert)
        except BaseException:
            if name is not None:
                await loop.run_in_executor(store._files, store.spool.remove, name)
            raise
        if not added:
            if name is not None:
                await loop.run_in_executor(store._files, store.spool.remove, name)
            return None
        return await self.received_fax(fax_id)

    async def known(self, provider_ids: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(provider_ids))
        if not wanted:
            return set()

        def query() -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._store.conn.execute(
                    f"SELECT provider_id FROM received_faxes WHERE provider_id IN ({marks})", chunk
                )
                found.update(str(row["provider_id"]) for row in rows)
            return found

        return await self._store._run(query)

    async def received_cursor(self) -> datetime | None:
        row = await self._store._run(
            lambda: self._store.conn.execute("SELECT at FROM received_cursor WHERE id = 1").fetchone()
        )
        return _dt(row["at"]) if row else None

    async def set_received_cursor(self, moment: datetime) -> None:
        # Redone after a machine crash by reading the provider's list again; the dedupe keeps it safe.
        await self._write(
            "INSERT INTO received_cursor (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            (_ts(moment),),
            durable=False,
        )

    async def received_fax(self, fax_id: str) -> ReceivedFax:
        def query() -> ReceivedFax | None:
            row = self._store.conn.execute(
                f"SELECT {_FAX_COLUMNS} FROM received_faxes WHERE id = ?", (fax_id,)
            ).fetchone()
            return None if row is None else self._fax(row)

        found = await self._store._run(query)
        if found is None:
            raise ReceivedFaxNotFound(f"no received fax {fax_id}")
        return found

    async def list_received(self, *, limit: int = 100) -> list[ReceivedFax]:
        def query() -> list[ReceivedFax]:
            rows = self._store.conn.execute(
                f"SELECT {_FAX_COLUMNS} FROM received_faxes ORDER BY stored DESC, id DESC LIMIT ?", (limit,)
            ).fetchall()
            return [self._fax(row) for row in rows]

        return await self._store._run(query)

    def open_received(self, fax: ReceivedFax) -> BinaryIO:
        row = self._store.conn.execute(
            "SELECT spool_name FROM received_faxes WHERE id = ?", (fax.id,)
        ).fetchone()
        if row is None or row["spool_name"] is None:
            raise DocumentMissing(f"the document of received fax {fax.id} is no longer kept")
        try:
            return self._store.spool.open(row["spool_name"])
        except OSError as exc:
            raise DocumentMissing(
                f"the document of received fax {fax.id} is missing from the spool ({exc.strerror})"
            ) from exc

    async def due_deliveries(self, now: datetime, *, limit: int = 20) -> list[tuple[ReceivedFax, Delivery]]:
        def query() -> list[tuple[ReceivedFax, Delivery]]:
            conn = self._store.conn
            rows = conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM received_deliveries WHERE state = 'pending' AND due_at <= ?"
                " ORDER BY due_at, id LIMIT ?",
                (_ts(now), limit),
            ).fetchall()
            found = []
            for row in rows:
                fax = conn.execute(
                    f"SELECT {_FAX_COLUMNS} FROM received_faxes WHERE id = ?", (row["fax_id"],)
                ).fetchone()
                found.append((self._fax(fax), _delivery(row)))
            return found

        return await self._store._run(query)

    async def next_delivery_due(self) -> datetime | None:
        row = await self._store._run(
            lambda: self._store.conn.execute(
                "SELECT MIN(due_at) AS due FROM received_deliveries WHERE state = 'pending'"
            ).fetchone()
        )
        return None if row is None or row["due"] is None else _dt(row["due"])

    async def delivery_progress(self, delivery_id: int, progress: str) -> None:
        await self._write(
            "UPDATE received_deliveries SET progress = ? WHERE id = ?", (progress, delivery_id), durable=True
        )

    async def delivery_done(self, delivery_id: int, *, now: datetime) -> None:
        # Durable: a "done" forgotten by a machine crash would be delivered a second time.
        await self._write(
            "UPDATE received_deliveries SET state = 'done', attempts = attempts + 1, updated = ?, reason = NULL"
            " WHERE id = ?",
            (_ts(now), delivery_id),
            durable=True,
        )

    async def delivery_failed(
        self, delivery_id: int, *, now: datetime, reason: str, retry_at: datetime | None
    ) -> None:
        state = DeliveryState.PENDING if retry_at is not None else DeliveryState.FAILED
        await self._write(
            "UPDATE received_deliveries SET state = ?, attempts = attempts + 1, updated = ?, reason = ?,"
            " due_at = COALESCE(?, due_at) WHERE id = ?",
            (state.value, _ts(now), reason, _ts(retry_at) if retry_at else None, delivery_id),
            durable=False,
        )

    async def faxed_to(self, number: str, since: datetime) -> list[Job]:
        return await self._store._ids_to_jobs(
            "SELECT id FROM jobs WHERE to_number = ? AND created >= ? AND state != 'rejected' ORDER BY created",
            (number, _ts(since)),
        )

    async def purge_received(self, before: datetime) -> int:
        cutoff = _ts(before)
        store = self._store

        def find(conn: sqlite3.Connection) -> list[str]:
            # Every delivery ended before the cutoff (a fax with none: kept since before it).
            rows = conn.execute(
                "SELECT f.id, f.spool_name FROM received_faxes f WHERE f.spool_name IS NOT NULL AND"
                " NOT EXISTS (SELECT 1 FROM received_deliveries d WHERE d.fax_id = f.id AND"
                " (d.state = 'pending' OR d.updated >= ?)) AND"
                " (EXISTS (SELECT 1 FROM received_deliveries d WHERE d.fax_id = f.id) OR f.stored < ?)",
                (cutoff, cutoff),
            ).fetchall()
            conn.executemany(
                "UPDATE received_faxes SET spool_name = NULL WHERE id = ?", [(r["id"],) for r in rows]
            )
            return [str(r["spool_name"]) for r in rows]

        def run() -> int:
            names = store._tx(find)
            # Rows first, then files: a crash in between leaves only unreferenced files behind.
            for name in names:
                store.spool.remove(name)
            return len(names)

        return await store._run(run)

    async def _write(self, sql: str, args: tuple[Any, ...], *, durable: bool) -> None:
        await self._store._run(
            functools.partial(self._store._tx, durable=durable), lambda conn: conn.execute(sql, args)
        )

    def _fax(self, row: sqlite3.Row) -> ReceivedFax:
        deliveries = self._store.conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM received_deliveries WHERE fax_id = ? ORDER BY id", (row["id"],)
        ).fetchall()
        return ReceivedFax(
            id=row["id"],
            provider_id=row["provider_id"],
            from_number=row["from_number"],
            to_number=row["to_number"],
            received=_dt(row["received"]),
            stored=_dt(row["stored"]),
            pages=row["pages"],
            size=row["size"],
            note=row["note"],
            purged=row["spool_name"] is None,
            deliveries=tuple(_delivery(d) for d in deliveries),
        )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        fax_id=row["fax_id"],
        destination=Destination.parse(row["destination"]),
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        due_at=_dt(row["due_at"]),
        updated=_dt(row["updated"]),
        reason=row["reason"],
        progress=row["progress"],
    )
