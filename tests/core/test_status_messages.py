"""The StatusMessages contract: which channel message shows which job, kept in the store (SQLite and fake)."""

from __future__ import annotations

from datetime import timedelta

from bridge.ports import JobStore
from bridge.states import JobState
from tests.conftest import Clock
from tests.core import stores
from tests.core.test_store import _create

store = stores.store  # every registered store in turn (tests/core/stores.py)
WEEK = timedelta(days=7)


async def test_a_jobs_message_is_remembered_and_moves_with_it(store: JobStore, clock: Clock) -> None:
    """No message until one is kept; the newest place wins (a message moved to the person's DM)."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    assert await store.message_of(job_id) is None
    await store.keep_message(job_id, "C1", "1700000000.000100")
    assert await store.message_of(job_id) == ("C1", "1700000000.000100")
    await store.keep_message(job_id, "D9", "1700000001.000200")
    assert await store.message_of(job_id) == ("D9", "1700000001.000200")


async def test_a_purged_jobs_message_goes_with_it(store: JobStore, clock: Clock) -> None:
    """When a finished request's records are purged its message record goes too; a live job's stays.

    Mutation caught: purge_records leaving status messages behind (they would outlive retention).
    """
    (old,) = await _create(store, clock, ["+12025550123"])
    (live,) = await _create(store, clock, ["+12025550188"])
    await store.keep_message(old, "C1", "1.1")
    await store.keep_message(live, "C1", "1.2")
    await store.transition(old, JobState.CANCELLED, reason=None, now=clock())
    clock.advance(WEEK.total_seconds() + 86400)
    await store.purge_documents(clock() - WEEK)
    assert await store.purge_records(clock() - WEEK) == 1
    assert await store.message_of(old) is None
    assert await store.message_of(live) == ("C1", "1.2")
