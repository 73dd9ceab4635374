"""The JobStore contract for attempts, settling, failing notices and the retention of records (SQLite and fake)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sqlite import SqliteJobStore
from adapters.sqlite.schema import MIGRATIONS
from bridge.errors import JobNotFound
from bridge.ports import JobStore, ReplyKind
from bridge.states import JobState
from tests.conftest import Clock
from tests.core import stores
from tests.core.test_store import _create

NUMBER = "+12025550123"
WEEK = timedelta(days=7)
store = stores.store  # every registered store in turn (tests/core/stores.py)


async def _submit(store: JobStore, clock: Clock, job_id: str, provider_id: str) -> None:
    claimed = await store.claim_due(clock(), lease_until=clock())
    assert claimed is not None and claimed.id == job_id
    await store.transition(job_id, JobState.SUBMITTED, reason=None, provider_id=provider_id, now=clock())


async def test_every_attempt_keeps_its_provider_id(store: JobStore, clock: Clock) -> None:
    """A job tried twice owns both provider ids, though it shows only the newest.

    Mutation caught: provider_id_taken looking only at each job's current provider id.
    """
    (job_id,) = await _create(store, clock, [NUMBER])
    await _submit(store, clock, job_id, "first")
    await store.transition(job_id, JobState.QUEUED, reason="line busy", now=clock(), due_at=clock())
    await _submit(store, clock, job_id, "second")
    assert (await store.get(job_id)).provider_id == "second"
    assert await store.provider_id_taken("first")
    assert await store.provider_id_taken("second")
    assert not await store.provider_id_taken("third")


async def test_settling_a_sent_fax_reports_it_and_stops_following_it(store: JobStore, clock: Clock) -> None:
    """`settle=True` ends a sent fax: marked settled, not in flight, and a report is owed to its sender."""
    (job_id,) = await _create(store, clock, [NUMBER])
    await store.claim_due(clock(), lease_until=clock())
    job = await store.transition(
        job_id, JobState.SENT, reason="an operator found it", now=clock(), settle=True
    )
    assert (job.state, job.settled) == (JobState.SENT, True)
    assert await store.in_flight() == []
    pending = await store.pending_replies(clock())
    assert pending[-1].kind is ReplyKind.REPORT


async def test_failing_notices_are_listed_with_their_error(store: JobStore, clock: Clock) -> None:
    """A notice that failed shows its kind, tries, next try and error, per job and in the total count."""
    (job_id,) = await _create(store, clock, [NUMBER])
    assert await store.reply_troubles(job_id) == []
    (receipt,) = await store.pending_replies(clock())
    retry_at = clock() + timedelta(minutes=5)
    await store.reply_failed([receipt.id], retry_at=retry_at, error="SMTPNotSupported: STARTTLS required")
    await store.reply_failed([receipt.id], retry_at=retry_at, error="SMTPNotSupported: STARTTLS required")
    (trouble,) = await store.reply_troubles(job_id)
    assert (trouble.kind, trouble.attempts, trouble.retry_at) == (ReplyKind.ACKNOWLEDGE, 2, retry_at)
    assert "STARTTLS" in trouble.error
    assert await store.failing_replies() == 1
    await store.reply_done([receipt.id], now=clock())
    assert await store.reply_troubles(job_id) == []
    assert await store.failing_replies() == 0


async def test_records_of_requests_that_ended_long_ago_are_purged(store: JobStore, clock: Clock) -> None:
    """After the retention period a finished request goes with its history and notices; live ones keep theirs.

    Mutations caught: never purging job records, notices or one-time keys; and purging a job's
    history while the job itself is kept.
    """
    old_key_seen = await store.remember("slack:event:old", now=clock())
    (alone,) = await _create(store, clock, ["+12025550199"])
    done, waiting = await _create(store, clock, [NUMBER, "+12025550188"])
    await store.transition(alone, JobState.CANCELLED, reason=None, now=clock())
    await store.transition(done, JobState.CANCELLED, reason=None, now=clock())
    for reply in await store.pending_replies(clock()):
        await store.reply_done([reply.id], now=clock())
    clock.advance(WEEK.total_seconds() + 86400)
    (recent,) = await _create(store, clock, ["+12025550177"])
    await store.transition(recent, JobState.CANCELLED, reason=None, now=clock())
    await store.remember("slack:event:new", now=clock())

    before = clock() - WEEK
    await store.purge_documents(before)
    assert await store.purge_records(before) == 1

    with pytest.raises(JobNotFound):
        await store.get(alone)
    for kept in (done, waiting, recent):
        assert len((await store.get(kept)).history) >= 2  # still with its whole history
    assert old_key_seen and await store.remember("slack:event:old", now=clock())  # forgotten: new again
    assert not await store.remember("slack:event:new", now=clock())
    assert {r.job_id for r in await store.pending_replies(clock())} == {recent}
    if isinstance(store, SqliteJobStore):
        for table in ("transitions", "replies", "attempts", "documents"):
            orphans = store.conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE job_id NOT IN (SELECT id FROM jobs)"
            ).fetchone()[0]
            assert orphans == 0, table
    # Once the last live job of the shared request ends and ages, the whole request goes.
    await store.transition(waiting, JobState.CANCELLED, reason=None, now=clock())
    clock.advance(WEEK.total_seconds() + 86400)
    await store.purge_documents(clock() - WEEK)
    assert await store.purge_records(clock() - WEEK) == 3
    assert await store.list_jobs() == []


async def test_upgrading_a_first_version_database_keeps_what_each_job_owns(
    tmp_path: Path, clock: Clock
) -> None:
    """Migration 2 records the provider id of every job submitted before it, so none is ever adopted again."""
    path = tmp_path / "faxbridge.db"
    conn = sqlite3.connect(path)
    conn.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    conn.execute("INSERT INTO batches (id, created, origin) VALUES ('b1', 0, '{}')")
    conn.execute(
        "INSERT INTO jobs (id, batch_id, state, to_number, created, updated, due_at, provider_id)"
        " VALUES ('j1', 'b1', 'delivered', ?, 0, 0, 0, 'old-fax')",
        (NUMBER,),
    )
    conn.commit()
    conn.close()
    upgraded = SqliteJobStore(path, tmp_path / "spool")
    await upgraded.open()
    try:
        assert await upgraded.provider_id_taken("old-fax")
        (row,) = upgraded.conn.execute("SELECT job_id, provider_id FROM attempts").fetchall()
        assert tuple(row) == ("j1", "old-fax")
    finally:
        await upgraded.close()
