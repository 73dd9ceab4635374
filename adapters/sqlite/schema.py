"""The store's schema, versioned: each migration runs once, in order, recorded in user_version."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, their shared documents, history, the reply outbox and one-time keys.
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        origin TEXT NOT NULL,
        left_out TEXT NOT NULL DEFAULT '[]',
        docs_purged INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL REFERENCES batches(id),
        state TEXT NOT NULL,
        to_number TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        due_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        claims INTEGER NOT NULL DEFAULT 0,
        provider_id TEXT,
        reason TEXT,
        cover_index INTEGER,
        cover_page_text TEXT,
        resolution TEXT NOT NULL DEFAULT 'High',
        submit_started_at REAL,
        settled INTEGER NOT NULL DEFAULT 0,
        idempotency_key TEXT
    );
    CREATE INDEX jobs_state_due ON jobs (state, due_at);
    CREATE INDEX jobs_provider ON jobs (provider_id);
    CREATE UNIQUE INDEX jobs_idempotency ON jobs (idempotency_key, to_number) WHERE idempotency_key IS NOT NULL;
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL REFERENCES batches(id),
        job_id TEXT,
        position INTEGER NOT NULL,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        pages INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        spool_name TEXT
    );
    CREATE INDEX documents_batch ON documents (batch_id);
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        state TEXT NOT NULL,
        at REAL NOT NULL,
        reason TEXT
    );
    CREATE INDEX transitions_job ON transitions (job_id);
    CREATE TABLE replies (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        done_at REAL,
        error TEXT
    );
    CREATE INDEX replies_pending ON replies (done_at, due_at);
    CREATE TABLE seen_keys (
        key TEXT PRIMARY KEY,
        at REAL NOT NULL
    );
    """,
    # 2: every submission attempt with the provider id it got, so reconciliation never adopts a fax
    # an earlier attempt (of any job) already owns; indexes for the retention sweep.
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        started_at REAL NOT NULL,
        provider_id TEXT
    );
    CREATE INDEX attempts_job ON attempts (job_id);
    CREATE INDEX attempts_provider ON attempts (provider_id);
    INSERT INTO attempts (job_id, started_at, provider_id)
        SELECT id, COALESCE(submit_started_at, updated), provider_id FROM jobs WHERE provider_id IS NOT NULL;
    CREATE INDEX replies_job ON replies (job_id);
    CREATE INDEX seen_keys_at ON seen_keys (at);
    """,
    # 3: the inbox of requests stored before they are answered (Slack), finished by a worker.
    """
    CREATE TABLE request_inbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        payload TEXT,
        received REAL NOT NULL,
        due_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        answer TEXT,
        finished REAL
    );
    CREATE INDEX request_inbox_due ON request_inbox (channel, finished, due_at);
    """,
    # 4: a generated cover is kept as what it says (JSON) until it is drawn, when its fax is sent.
    """
    ALTER TABLE documents ADD COLUMN cover TEXT;
    """,
    # 5: which Slack message shows which job, kept with the jobs (it was a database of its own).
    """
    CREATE TABLE status_messages (
        job_id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # 6: received faxes (one row per provider message id), the outbox of their deliveries (one row
    # per destination), where the provider's list is read from, and faxes by number for replies.
    """
    CREATE TABLE received_faxes (
        id TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL UNIQUE,
        from_number TEXT NOT NULL,
        to_number TEXT NOT NULL,
        received REAL NOT NULL,
        stored REAL NOT NULL,
        pages INTEGER NOT NULL,
        size INTEGER NOT NULL,
        note TEXT,
        spool_name TEXT
    );
    CREATE INDEX received_faxes_stored ON received_faxes (stored);
    CREATE TABLE received_deliveries (
        id INTEGER PRIMARY KEY,
        fax_id TEXT NOT NULL REFERENCES received_faxes(id),
        destination TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at REAL NOT NULL,
        updated REAL NOT NULL,
        reason TEXT,
        progress TEXT
    );
    CREATE INDEX received_deliveries_due ON received_deliveries (state, due_at);
    CREATE INDEX received_deliveries_fax ON received_deliveries (fax_id);
    CREATE TABLE received_cursor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at REAL NOT NULL
    );
    CREATE INDEX jobs_to_created ON jobs (to_number, created);
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to the newest schema; return the version it is now at.

    The version is read under the write lock, so processes opening a new store at once (`serve`
    and `send`) migrate it once: the others wait for the lock, then find the work done.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the database is at schema version {version}, newer than this faxbridge ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """A script's statements one by one: executescript would commit the transaction holding the lock."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"an unfinished statement ends a migration: {pending.strip()[:80]}")
    return statements
