"""The JobStore contract, run against the SQLite store and the in-memory fake alike."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.sqlite import SqliteJobStore
from adapters.sqlite.schema import MIGRATIONS
from bridge.errors import DocumentMissing, InvalidTransition
from bridge.model import (
    Channel,
    Cover,
    CoverSheet,
    Document,
    DocumentRole,
    Envelope,
    LeftOut,
    Origin,
    PreparedFax,
)
from bridge.ports import JobStore, ReplyKind
from bridge.states import JobState
from bridge.testing import kept
from tests.conftest import Clock
from tests.core import stores

ORIGIN = Origin(channel=Channel.EMAIL, sender="ann@example.com", reply={"message_id": "<m1@example.com>"})


def _sheet(number: str) -> CoverSheet:
    return CoverSheet(
        cover=Cover(subject="Referral"), to=number, pages=4, when=datetime(2026, 11, 26, tzinfo=UTC)
    )


def _prepared(numbers: list[str]) -> PreparedFax:
    return PreparedFax(
        envelope=Envelope(cover_index=0),
        documents=(
            Document(name="a.pdf", content_type="application/pdf", pages=2, content=kept(b"%PDF-a")),
            Document(name="b.png", content_type="image/png", pages=1, content=kept(b"\x89PNG-b")),
        ),
        covers={n: _sheet(n) for n in numbers},
        left_out=(LeftOut(name="logo.png", reason="signature image"),),
    )


store = stores.store  # every registered store in turn (tests/core/stores.py)


async def _create(store: JobStore, clock: Clock, numbers: list[str], key: str | None = None) -> list[str]:
    acceptance = await store.create_jobs(
        numbers=numbers, prepared=_prepared(numbers), origin=ORIGIN, idempotency_key=key, now=clock()
    )
    return [job.id for job in acceptance.jobs]


async def test_created_jobs_are_queued_with_documents_in_fax_order(store: JobStore, clock: Clock) -> None:
    """Each number gets a queued job whose documents are its cover, then the shared documents."""
    ids = await _create(store, clock, ["+12025550123", "+12025550188"])
    job = await store.get(ids[1])
    assert job.state is JobState.QUEUED
    assert [d.name for d in job.documents] == ["cover.pdf", "a.pdf", "b.png"]
    assert job.pages == 4
    assert job.left_out == (LeftOut(name="logo.png", reason="signature image"),)
    assert [h.state for h in job.history] == [JobState.RECEIVED, JobState.QUEUED]
    with store.open_document(job.documents[1]) as shared:
        assert shared.read() == b"%PDF-a"


async def test_cover_is_kept_as_words_until_it_is_drawn(store: JobStore, clock: Clock) -> None:
    """A job's cover is stored as what it says; once drawn, its bytes are kept and read back."""
    (job_id,) = await _create(store, clock, ["+12025550188"])
    cover = (await store.get(job_id)).documents[0]
    assert cover.role is DocumentRole.COVER and cover.unrendered
    assert cover.sheet == _sheet("+12025550188")
    job = await store.keep_cover(job_id, cover.id, b"%PDF-cover +12025550188")
    assert not job.documents[0].unrendered and job.documents[0].size == 23
    with store.open_document(job.documents[0]) as drawn:
        assert drawn.read() == b"%PDF-cover +12025550188"


async def test_same_key_past_its_time_is_a_new_request(store: JobStore, clock: Clock) -> None:
    """An idempotency key older than `key_since` no longer matches: the request makes a new job."""
    first = await _create(store, clock, ["+12025550123"], key="email:k1")
    clock.advance(86400 * 8)
    again = await store.create_jobs(
        numbers=["+12025550123"],
        prepared=_prepared(["+12025550123"]),
        origin=ORIGIN,
        idempotency_key="email:k1",
        now=clock(),
        key_since=clock() - timedelta(days=7),
    )
    assert not again.duplicate and [j.id for j in again.jobs] != first
    repeat = await store.create_jobs(
        numbers=["+12025550123"],
        prepared=_prepared(["+12025550123"]),
        origin=ORIGIN,
        idempotency_key="email:k1",
        now=clock(),
        key_since=clock() - timedelta(days=7),
    )
    assert repeat.duplicate and [j.id for j in repeat.jobs] == [j.id for j in again.jobs]


async def test_same_key_and_number_returns_the_same_job(store: JobStore, clock: Clock) -> None:
    """A repeated request (same idempotency key and number) makes nothing new."""
    first = await _create(store, clock, ["+12025550123"], key="<m1@example.com>")
    again = await store.create_jobs(
        numbers=["+12025550123"],
        prepared=_prepared(["+12025550123"]),
        origin=ORIGIN,
        idempotency_key="<m1@example.com>",
        now=clock(),
    )
    assert again.duplicate
    assert [j.id for j in again.jobs] == first
    assert len(await store.list_jobs()) == 1


async def test_claim_takes_due_jobs_once_in_order(store: JobStore, clock: Clock) -> None:
    """Claiming moves the oldest due job to submitting; a claimed job is not claimed again."""
    first, second = await _create(store, clock, ["+12025550123", "+12025550188"])
    lease = clock() + timedelta(seconds=60)
    a = await store.claim_due(clock(), lease_until=lease)
    b = await store.claim_due(clock(), lease_until=lease)
    assert {a.id if a else None, b.id if b else None} == {first, second}
    assert await store.claim_due(clock(), lease_until=lease) is None
    assert (await store.get(first)).state is JobState.SUBMITTING


async def test_claim_limited_to_some_ids_leaves_the_others(store: JobStore, clock: Clock) -> None:
    """`claim_due(only=...)` takes only those jobs, even when an older one is due; an empty set takes none."""
    older, mine = await _create(store, clock, ["+12025550123", "+12025550188"])
    lease = clock() + timedelta(seconds=60)
    assert await store.claim_due(clock(), lease_until=lease, only=frozenset()) is None
    claimed = await store.claim_due(clock(), lease_until=lease, only={mine})
    assert claimed is not None and claimed.id == mine
    assert await store.claim_due(clock(), lease_until=lease, only={mine}) is None
    assert (await store.get(older)).state is JobState.QUEUED


async def test_jobs_not_yet_due_are_not_claimed(store: JobStore, clock: Clock) -> None:
    """A job queued for later waits until its time."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    await store.claim_due(clock(), lease_until=clock())
    await store.transition(
        job_id, JobState.QUEUED, reason="busy", now=clock(), due_at=clock() + timedelta(minutes=5)
    )
    assert await store.claim_due(clock(), lease_until=clock()) is None
    assert await store.next_due() == clock() + timedelta(minutes=5)
    clock.advance(301)
    assert await store.claim_due(clock(), lease_until=clock()) is not None


async def test_stale_submission_appears_after_its_lease(store: JobStore, clock: Clock) -> None:
    """A job left in submitting becomes stale only once its lease has run out."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    await store.claim_due(clock(), lease_until=clock() + timedelta(seconds=30))
    assert await store.stale_submissions(clock()) == []
    clock.advance(31)
    assert [j.id for j in await store.stale_submissions(clock())] == [job_id]


async def test_transitions_are_checked_and_recorded(store: JobStore, clock: Clock) -> None:
    """Allowed moves are recorded with time and reason; forbidden ones raise and change nothing."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    with pytest.raises(InvalidTransition):
        await store.transition(job_id, JobState.DELIVERED, reason=None, now=clock())
    await store.claim_due(clock(), lease_until=clock())
    clock.advance(1)
    job = await store.transition(job_id, JobState.SUBMITTED, reason="accepted", provider_id="77", now=clock())
    assert (job.state, job.provider_id, job.attempts) == (JobState.SUBMITTED, "77", 1)
    assert job.history[-1].reason == "accepted"
    assert job.history[-1].at == clock()
    assert [j.id for j in await store.in_flight()] == [job_id]
    assert await store.provider_id_taken("77")


async def test_expect_guards_against_a_concurrent_change(store: JobStore, clock: Clock) -> None:
    """A transition that expects another state than the job's current one is refused."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    with pytest.raises(InvalidTransition):
        await store.transition(
            job_id, JobState.CANCELLED, reason=None, now=clock(), expect=JobState.SUBMITTING
        )


async def test_every_change_owes_the_sender_a_notice(store: JobStore, clock: Clock) -> None:
    """Acceptance queues an acknowledgement, changes an update, the end a report; done ones are not repeated."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    await store.transition(job_id, JobState.CANCELLED, reason="by Ann", now=clock())
    pending = await store.pending_replies(clock())
    assert [(p.job_id, p.kind) for p in pending] == [
        (job_id, ReplyKind.ACKNOWLEDGE),
        (job_id, ReplyKind.REPORT),
    ]
    await store.reply_failed([pending[0].id], retry_at=clock() + timedelta(seconds=30), error="relay down")
    assert [p.kind for p in await store.pending_replies(clock())] == [ReplyKind.REPORT]
    await store.reply_done([pending[1].id], now=clock())
    clock.advance(31)
    again = await store.pending_replies(clock())
    assert [(p.kind, p.attempts) for p in again] == [(ReplyKind.ACKNOWLEDGE, 1)]


async def test_remember_is_true_once(store: JobStore, clock: Clock) -> None:
    """A one-time key is new the first time and seen every time after."""
    assert await store.remember("slack:event:Ev1", now=clock())
    assert not await store.remember("slack:event:Ev1", now=clock())


async def test_purge_removes_bytes_of_old_final_jobs_only(store: JobStore, clock: Clock) -> None:
    """Documents are purged once every job sharing them has ended before the cutoff."""
    done, waiting = await _create(store, clock, ["+12025550123", "+12025550188"])
    (alone,) = await _create(store, clock, ["+12025550199"])
    await store.keep_cover(alone, (await store.get(alone)).documents[0].id, b"%PDF-cover")
    await store.transition(done, JobState.CANCELLED, reason=None, now=clock())
    await store.transition(alone, JobState.CANCELLED, reason=None, now=clock())
    clock.advance(86400 * 8)
    purged = await store.purge_documents(clock() - timedelta(days=7))
    assert purged == 3  # alone's cover and its two documents; the shared batch still has a live job
    job = await store.get(alone)
    with pytest.raises(DocumentMissing):
        store.open_document(job.documents[1])
    with store.open_document((await store.get(waiting)).documents[1]) as still:
        assert still.read() == b"%PDF-a"


async def test_rejected_requests_are_recorded(store: JobStore, clock: Clock) -> None:
    """A refused request is kept as a rejected job with its reason."""
    job = await store.create_rejected(
        number="+19005550123", origin=ORIGIN, reason="premium-rate numbers are not allowed", now=clock()
    )
    assert (await store.get(job.id)).state is JobState.REJECTED
    assert (await store.get(job.id)).reason == "premium-rate numbers are not allowed"


async def test_sqlite_store_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    """Jobs and their bytes are still there after the store is closed and opened again."""
    first = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await first.open()
    (job_id,) = await _create(first, clock, ["+12025550123"])
    await first.close()
    second = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await second.open()
    job = await second.get(job_id)
    with second.open_document(job.documents[1]) as handle:
        assert handle.read() == b"%PDF-a"
    await second.close()


async def test_sqlite_uses_wal_and_full_sync_and_records_its_schema(tmp_path: Path) -> None:
    """The database is in WAL mode with synchronous=FULL and at the newest schema version."""
    store = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await store.open()
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    await store.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A database from a newer faxbridge is not touched."""
    path = tmp_path / "faxbridge.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    store = SqliteJobStore(path, tmp_path / "spool")
    with pytest.raises(RuntimeError, match="newer"):
        await store.open()
    await store.close()


async def test_spool_files_are_written_before_rows(tmp_path: Path, clock: Clock) -> None:
    """If the commit fails, the spooled bytes are removed again and no job exists."""
    store = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await store.open()
    store.conn.execute(
        "CREATE TRIGGER no_jobs BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    from bridge.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable):
        await _create(store, clock, ["+12025550123"])
    leftovers = [p for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    assert leftovers == []
    assert await store.list_jobs() == []
    await store.close()


async def test_one_open_submission_per_number(store: JobStore, clock: Clock) -> None:
    """A second job to the same number waits while the first is submitting; other numbers go ahead."""
    first, second = (
        (await _create(store, clock, ["+12025550123"]))[0],
        (await _create(store, clock, ["+12025550123"]))[0],
    )
    (other,) = await _create(store, clock, ["+12025550188"])
    lease = clock() + timedelta(seconds=60)
    claimed = await store.claim_due(clock(), lease_until=lease)
    assert claimed is not None and claimed.id == first
    then = await store.claim_due(clock(), lease_until=lease)
    assert then is not None and then.id == other
    assert await store.claim_due(clock(), lease_until=lease) is None
    await store.transition(first, JobState.SUBMITTED, reason=None, provider_id="1", now=clock())
    after = await store.claim_due(clock(), lease_until=lease)
    assert after is not None and after.id == second


async def test_sqlite_missing_spool_file_is_a_missing_document(tmp_path: Path, clock: Clock) -> None:
    """A spool file deleted behind the store's back is reported as missing bytes, not a raw OSError."""
    store = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await store.open()
    (job_id,) = await _create(store, clock, ["+12025550123"])
    for file in (tmp_path / "spool").rglob("*"):
        if file.is_file():
            file.unlink()
    job = await store.get(job_id)
    with pytest.raises(DocumentMissing, match="missing from the spool"):
        store.open_document(job.documents[1])
    await store.close()


async def test_settled_sent_jobs_have_their_documents_purged(store: JobStore, clock: Clock) -> None:
    """A fax reported as sent without confirmation also loses its bytes after the retention period."""
    (job_id,) = await _create(store, clock, ["+12025550123"])
    await store.claim_due(clock(), lease_until=clock())
    await store.keep_cover(job_id, (await store.get(job_id)).documents[0].id, b"%PDF-cover")
    await store.transition(job_id, JobState.SUBMITTED, reason=None, provider_id="9", now=clock())
    await store.transition(job_id, JobState.SENT, reason=None, now=clock())
    await store.mark_settled(job_id, now=clock())
    clock.advance(86400 * 8)
    assert await store.purge_documents(clock() - timedelta(days=7)) == 3


async def test_jobs_for_key_finds_what_a_request_became(store: JobStore, clock: Clock) -> None:
    """The jobs stored under an idempotency key are found by it; an unknown key finds none."""
    ids = await _create(store, clock, ["+12025550123", "+12025550188"], key="slack:view:V1:h1")
    await _create(store, clock, ["+12025550123"], key="slack:view:V2:h2")
    assert sorted(j.id for j in await store.jobs_for_key("slack:view:V1:h1")) == sorted(ids)
    assert await store.jobs_for_key("slack:view:V3:h3") == []


def test_sqlite_stores_opened_at_once_migrate_once(tmp_path: Path) -> None:
    """Several processes opening a new database together (serve and send) all succeed at the newest schema.

    Mutation: reading the schema version before taking the write lock fails with "table already exists".
    """
    from adapters.sqlite.schema import migrate

    database = tmp_path / "faxbridge.db"
    start = threading.Barrier(6)
    outcomes: list[object] = []

    def open_and_migrate() -> None:
        conn = sqlite3.connect(database, isolation_level=None, timeout=30)
        try:
            start.wait()
            outcomes.append(migrate(conn))
        except Exception as exc:
            outcomes.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=open_and_migrate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == [len(MIGRATIONS)] * 6


async def test_cancelled_intake_never_deletes_a_committed_jobs_files(tmp_path: Path, clock: Clock) -> None:
    """Cancelling create_jobs while the commit waits its turn leaves a stored job with all its bytes.

    Mutation caught: awaiting the storing task without asyncio.shield (the cancelled caller would
    remove the linked files while the commit still goes through).
    """
    import asyncio
    import threading

    store = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await store.open()
    gate = threading.Event()
    loop = asyncio.get_running_loop()
    held = loop.run_in_executor(store._executor, gate.wait)  # the database thread is busy until released
    creating = asyncio.ensure_future(_create(store, clock, ["+12025550123"]))
    for _ in range(200):  # until the files are linked and the commit is queued behind the gate
        await asyncio.sleep(0.01)
        if len([p for p in (tmp_path / "spool").rglob("*") if p.is_file()]) == 2:
            break
    creating.cancel()
    gate.set()
    await held
    with pytest.raises(asyncio.CancelledError):
        await creating
    (job,) = await store.list_jobs()
    for document in job.documents[1:]:
        with store.open_document(document) as handle:
            assert handle.read() in (b"%PDF-a", b"\x89PNG-b")
    await store.close()


async def test_document_bytes_and_their_names_are_synced_before_the_commit(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each document is fsynced, linked into the spool, its folder fsynced, and only then the rows committed.

    Mutation caught: dropping either fsync in Spool.adopt, or committing before adopting the files.
    """
    import os

    store = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await store.open()
    events: list[tuple[str, str]] = []
    real_fsync, real_link, real_tx = os.fsync, os.link, store._tx

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def link(source: str | Path, target: str | Path) -> None:
        events.append(("link", str(target)))
        real_link(source, target)

    def tx(*args: object, **kwargs: object) -> object:
        events.append(("commit", ""))
        return real_tx(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(store, "_tx", tx)
    prepared = _prepared(["+12025550123"])
    await store.create_jobs(
        numbers=["+12025550123"], prepared=prepared, origin=ORIGIN, idempotency_key=None, now=clock()
    )
    commit = events.index(("commit", ""))
    for document in prepared.documents:
        source = events.index(("fsync", str(document.content.path)))
        linked = next(i for i, (kind, path) in enumerate(events) if kind == "link" and i > source)
        folder = str(Path(events[linked][1]).parent)
        synced = next(i for i, e in enumerate(events) if e == ("fsync", folder) and i > linked)
        assert source < linked < synced < commit, events
    await store.close()


async def test_ids_starting_finds_ids_by_prefix_sorted_and_limited(store: JobStore, clock: Clock) -> None:
    """`ids_starting` returns the ids beginning with a prefix, sorted, at most `limit`, and treats no
    character as a wildcard."""
    numbers = [f"+1202555{n:04d}" for n in range(40)]
    made = await store.create_jobs(
        numbers=numbers, prepared=_prepared(numbers), origin=ORIGIN, idempotency_key=None, now=clock()
    )
    ids = sorted(job.id for job in made.jobs)
    first = ids[0]
    assert await store.ids_starting(first, limit=5) == [first]
    assert await store.ids_starting(first[:1], limit=50) == [i for i in ids if i.startswith(first[:1])]
    assert await store.ids_starting("", limit=3) == ids[:3]
    assert len(await store.ids_starting("", limit=100)) == 40
    assert await store.ids_starting(first + "0", limit=5) == []
    assert await store.ids_starting("%", limit=5) == []
    assert await store.ids_starting("_", limit=5) == []
