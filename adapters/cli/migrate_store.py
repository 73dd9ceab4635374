"""`faxbridge migrate-store`: copy a SQLite store (database and spool) into an empty PostgreSQL one.

Everything is copied in one PostgreSQL transaction: jobs with their ids, history, attempts,
notices owed, one-time keys, the request inbox, Slack's status messages, and every document's
bytes (streamed from the spool in chunks). A failure leaves the target as empty as it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from adapters.postgres.documents import write_file
from adapters.postgres.schema import migrate

# The tables in the order their rows may be inserted, with their columns; time columns are epoch
# seconds in SQLite and timestamps in PostgreSQL, flags are 0/1 there and booleans here.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("batches", ("id", "created", "origin", "left_out", "docs_purged")),
    (
        "jobs",
        (
            "id",
            "batch_id",
            "state",
            "to_number",
            "created",
            "updated",
            "due_at",
            "attempts",
            "claims",
            "provider_id",
            "reason",
            "cover_index",
            "cover_page_text",
            "resolution",
            "submit_started_at",
            "settled",
            "idempotency_key",
        ),
    ),
    ("transitions", ("id", "job_id", "state", "at", "reason")),
    ("attempts", ("id", "job_id", "started_at", "provider_id")),
    ("replies", ("id", "job_id", "kind", "due_at", "attempts", "done_at", "error")),
    ("seen_keys", ("key", "at")),
    ("request_inbox", ("id", "channel", "payload", "received", "due_at", "attempts", "answer", "finished")),
    ("status_messages", ("job_id", "channel", "message")),
)
TIMES = {
    "created",
    "updated",
    "due_at",
    "submit_started_at",
    "at",
    "started_at",
    "done_at",
    "received",
    "finished",
}
FLAGS = {"docs_purged", "settled"}
SEQUENCES = ("jobs", "documents", "transitions", "attempts", "replies", "request_inbox")


@dataclass
class Copied:
    """What was copied: rows per table, documents with bytes, documents whose bytes were missing."""

    rows: dict[str, int]
    documents: int
    missing: int


def _value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in TIMES:
        return datetime.fromtimestamp(float(value), UTC)
    if column in FLAGS:
        return bool(value)
    return value


async def migrate_store(database: Path, spool: Path, url: str) -> Copied:
    """Copy the SQLite store at `database` (bytes in `spool`) into the empty PostgreSQL database at `url`.

    Raise ValueError when the target already holds jobs; nothing is copied then.
    """
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    source.row_factory = sqlite3.Row
    try:
        async with await psycopg.AsyncConnection.connect(url, options="-c synchronous_commit=on") as conn:
            await migrate(conn)
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute("SELECT COUNT(*) FROM jobs")
                row = await cur.fetchone()
                if row and row[0]:
                    raise ValueError("the PostgreSQL database already holds jobs; migrate into an empty one")
                copied = Copied(rows={}, documents=0, missing=0)
                for table, columns in TABLES:
                    copied.rows[table] = await _copy_table(source, cur, table, columns)
                await _copy_documents(source, cur, spool, copied)
                for table in SEQUENCES:
                    column = "seq" if table == "jobs" else "id"
                    await cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                        f" GREATEST((SELECT MAX({column}) FROM {table}), 1))".encode()
                    )
            return copied
    finally:
        source.close()


async def _copy_table(
    source: sqlite3.Connection, cur: psycopg.AsyncCursor[Any], table: str, columns: tuple[str, ...]
) -> int:
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    order = "rowid"
    count = 0
    query = f"SELECT {names} FROM {table} ORDER BY {order}"
    for row in source.execute(query):
        await cur.execute(
            f"INSERT INTO {table} ({names}) VALUES ({marks})".encode(),
            tuple(_value(c, row[c]) for c in columns),
        )
        count += 1
    return count


async def _copy_documents(
    source: sqlite3.Connection, cur: psycopg.AsyncCursor[Any], spool: Path, copied: Copied
) -> None:
    for doc in source.execute("SELECT * FROM documents ORDER BY id"):
        path = spool / doc["spool_name"] if doc["spool_name"] else None
        kept = path is not None and path.is_file()
        if path is not None and not kept:
            copied.missing += 1
        await cur.execute(
            "INSERT INTO documents (id, batch_id, job_id, position, role, name, content_type, pages, size,"
            " sha256, kept, cover) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                doc["id"],
                doc["batch_id"],
                doc["job_id"],
                doc["position"],
                doc["role"],
                doc["name"],
                doc["content_type"],
                doc["pages"],
                doc["size"],
                doc["sha256"],
                kept,
                doc["cover"],
            ),
        )
        if kept and path is not None:
            await write_file(cur, int(doc["id"]), path)
            copied.documents += 1
