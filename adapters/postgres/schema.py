"""The PostgreSQL store's schema, versioned: each migration runs once, in order, recorded in schema_version."""

from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

# Taken for the length of a migration: instances starting together migrate the database once.
MIGRATION_LOCK = 0x66617862  # "faxb"

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, their shared documents (bytes in chunks), history, attempts, the reply outbox,
    # one-time keys, the request inbox and Slack's status messages: what SQLite has after its 5.
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        created TIMESTAMPTZ NOT NULL,
        origin TEXT NOT NULL,
        left_out TEXT NOT NULL DEFAULT '[]',
        docs_purged BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE jobs (
        seq BIGSERIAL UNIQUE,
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL REFERENCES batches(id),
        state TEXT NOT NULL,
        to_number TEXT NOT NULL,
        created TIMESTAMPTZ NOT NULL,
        updated TIMESTAMPTZ NOT NULL,
        due_at TIMESTAMPTZ NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        claims INTEGER NOT NULL DEFAULT 0,
        provider_id TEXT,
        reason TEXT,
        cover_index INTEGER,
        cover_page_text TEXT,
        resolution TEXT NOT NULL DEFAULT 'High',
        submit_started_at TIMESTAMPTZ,
        settled BOOLEAN NOT NULL DEFAULT FALSE,
        idempotency_key TEXT
    );
    CREATE INDEX jobs_queued_due ON jobs (due_at, seq) WHERE state = 'queued';
    CREATE INDEX jobs_state_due ON jobs (state, due_at);
    CREATE INDEX jobs_batch ON jobs (batch_id);
    CREATE INDEX jobs_provider ON jobs (provider_id);
    CREATE INDEX jobs_created ON jobs (created);
    CREATE UNIQUE INDEX jobs_idempotency ON jobs (idempotency_key, to_number)
        WHERE idempotency_key IS NOT NULL;
    -- One submission per number across every instance: a second claim for a number that has one
    -- open fails here, so reconciliation after a crash only ever matches one open submission.
    CREATE UNIQUE INDEX jobs_one_submission ON jobs (to_number) WHERE state = 'submitting';
    CREATE TABLE documents (
        id BIGSERIAL PRIMARY KEY,
        batch_id TEXT NOT NULL REFERENCES batches(id),
        job_id TEXT,
        position INTEGER NOT NULL,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        pages INTEGER NOT NULL,
        size BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        kept BOOLEAN NOT NULL DEFAULT FALSE,
        cover TEXT
    );
    CREATE INDEX documents_batch ON documents (batch_id);
    CREATE TABLE document_chunks (
        document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (document_id, seq)
    );
    -- Documents are already compressed (PDF, TIFF, PNG): storing them as they are costs no CPU.
    ALTER TABLE document_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    CREATE TABLE transitions (
        id BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL,
        state TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        reason TEXT
    );
    CREATE INDEX transitions_job ON transitions (job_id);
    CREATE TABLE attempts (
        id BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        provider_id TEXT
    );
    CREATE INDEX attempts_job ON attempts (job_id);
    CREATE INDEX attempts_provider ON attempts (provider_id);
    CREATE TABLE replies (
        id BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_at TIMESTAMPTZ NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        done_at TIMESTAMPTZ,
        error TEXT
    );
    CREATE INDEX replies_pending ON replies (due_at, id) WHERE done_at IS NULL;
    CREATE INDEX replies_job ON replies (job_id);
    CREATE TABLE seen_keys (
        key TEXT PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX seen_keys_at ON seen_keys (at);
    CREATE TABLE request_inbox (
        id BIGSERIAL PRIMARY KEY,
        channel TEXT NOT NULL,
        payload TEXT,
        received TIMESTAMPTZ NOT NULL,
        due_at TIMESTAMPTZ NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        answer TEXT,
        finished TIMESTAMPTZ
    );
    CREATE INDEX request_inbox_due ON request_inbox (channel, due_at) WHERE finished IS NULL;
    CREATE TABLE status_messages (
        job_id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # 2: one provider rate budget for every instance: the sends of each throttling group, and the
    # 429 penalty that pauses them all.
    """
    CREATE TABLE rate_groups (
        name TEXT PRIMARY KEY,
        penalty_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        learned_limit INTEGER,  -- what RingCentral's X-Rate-Limit-* headers said, to any instance
        learned_window DOUBLE PRECISION
    );
    CREATE TABLE rate_sends (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX rate_sends_group ON rate_sends (name, at);
    """,
)


async def migrate(conn: psycopg.AsyncConnection[object]) -> int:
    """Bring the database to the newest schema; return the version it is now at.

    The version is read under an advisory lock held by the migrating transaction, so instances
    starting together migrate once: the others wait for the lock, then find the work done.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = await current_version(conn)
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the database is at schema version {version}, newer than this faxbridge ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(script.encode())
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
    return len(MIGRATIONS)


async def current_version(conn: psycopg.AsyncConnection[object]) -> int:
    """The schema version the database is at (0 before the first migration)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        exists = await (await cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")).fetchone()
        if not exists or not exists[0]:
            return 0
        row = await (await cur.execute("SELECT MAX(version) FROM schema_version")).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
