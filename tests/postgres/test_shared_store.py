"""Several bridges on one PostgreSQL: claims, numbers, wake-ups, migrations and documents shared safely."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from adapters.postgres import PostgresJobStore
from adapters.postgres.documents import CHUNK
from adapters.postgres.schema import MIGRATIONS
from bridge.errors import DocumentMissing, StoreUnavailable
from bridge.model import Channel, Document, Envelope, Origin, PreparedFax
from bridge.spooling import Spooled
from bridge.states import JobState
from bridge.testing import kept

ORIGIN = Origin(channel=Channel.CLI, sender="ann")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)


def _prepared(content: Spooled | None = None) -> PreparedFax:
    doc = Document(name="a.pdf", content_type="application/pdf", pages=1, content=content or kept(b"%PDF-a"))
    return PreparedFax(envelope=Envelope(), documents=(doc,), covers={}, left_out=())


@contextlib.asynccontextmanager
async def _stores(url: str, root: Path, count: int) -> AsyncIterator[list[PostgresJobStore]]:
    """`count` stores on one database, as `count` bridges would open them."""
    stores = [PostgresJobStore(url, root / f"spool{i}") for i in range(count)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        yield stores
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def _random_file(path: Path, *, megabytes: int) -> hashlib._Hash:
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            block = os.urandom(1_000_000)
            digest.update(block)
            handle.write(block)
    return digest


async def _queue(store: PostgresJobStore, numbers: list[str]) -> list[str]:
    ids = []
    for number in numbers:
        acceptance = await store.create_jobs(
            numbers=[number], prepared=_prepared(), origin=ORIGIN, idempotency_key=None, now=NOW
        )
        ids.extend(job.id for job in acceptance.jobs)
    return ids


async def test_instances_opening_a_new_database_together_migrate_it_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """Four stores opening one empty database at once all succeed, and the schema is at the newest version."""
    async with _stores(postgres_url, tmp_path, 4):
        with psycopg.connect(postgres_url) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


async def test_concurrent_claims_of_several_instances_take_each_job_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """Three stores claiming at once, over and over, take each of 30 queued jobs exactly once (SKIP LOCKED)."""
    async with _stores(postgres_url, tmp_path, 3) as stores:
        ids = await _queue(stores[0], [f"+1202555{n:04d}" for n in range(30)])
        claimed: list[str] = []

        async def drain(store: PostgresJobStore) -> None:
            while (job := await store.claim_due(NOW, lease_until=LEASE)) is not None:
                claimed.append(job.id)

        await asyncio.gather(*(drain(s) for s in stores for _ in range(3)))
        assert sorted(claimed) == sorted(ids)


async def test_a_number_with_a_claim_in_progress_elsewhere_is_not_claimed_again(
    postgres_url: str, tmp_path: Path
) -> None:
    """While another instance's claim of a number is not yet committed, a claim of that number's next job waits
    for it and then takes nothing: one submission per number across instances.

    Mutation caught: dropping the unique index jobs_one_submission (the second claim takes the second job).
    """
    async with _stores(postgres_url, tmp_path, 1) as (store,):
        first, _second = await _queue(store, ["+12025550123", "+12025550123"])
        async with await psycopg.AsyncConnection.connect(postgres_url) as other:
            # Another instance's claim, caught between its UPDATE and its COMMIT.
            await other.execute("UPDATE jobs SET state = 'submitting' WHERE id = %s", (first,))
            claiming = asyncio.create_task(store.claim_due(NOW, lease_until=LEASE))
            await asyncio.sleep(0.3)
            await other.commit()
            assert await claiming is None
        assert (await store.get(first)).state is JobState.SUBMITTING


async def test_a_commit_of_one_instance_wakes_the_others(postgres_url: str, tmp_path: Path) -> None:
    """A job queued through one store calls the listeners of another store on the same database (LISTEN/NOTIFY)."""
    async with _stores(postgres_url, tmp_path, 2) as (writer, reader):
        woken = asyncio.Event()
        reader.subscribe(woken.set)
        await asyncio.sleep(0.2)  # the listener has connected and reported what it may have missed
        woken.clear()
        await _queue(writer, ["+12025550123"])
        await asyncio.wait_for(woken.wait(), timeout=10)


async def test_a_large_document_goes_in_and_out_in_chunks_with_flat_memory(
    postgres_url: str, tmp_path: Path
) -> None:
    """A 25 MB document is stored and read back byte for byte, never holding more than a few chunks in memory."""
    path = tmp_path / "big.pdf"
    digest = _random_file(path, megabytes=25)
    content = Spooled(path=path, size=path.stat().st_size, sha256=digest.hexdigest())
    async with _stores(postgres_url, tmp_path, 1) as (store,):
        tracemalloc.start()
        try:
            acceptance = await store.create_jobs(
                numbers=["+12025550123"],
                prepared=_prepared(content),
                origin=ORIGIN,
                idempotency_key=None,
                now=NOW,
            )
            _, stored_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            read = hashlib.sha256()
            with store.open_document(acceptance.jobs[0].documents[0]) as handle:
                while block := handle.read(64 * 1024):
                    read.update(block)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert read.hexdigest() == digest.hexdigest()
    assert stored_peak < 6 * CHUNK
    assert read_peak < 6 * CHUNK


async def test_a_document_can_be_read_from_any_offset(postgres_url: str, tmp_path: Path) -> None:
    """Seeking in a stored document (as an HTTP client does to measure or resend it) reads the right bytes."""
    data = bytes(range(256)) * (CHUNK // 128 + 7)  # a little over two chunks
    async with _stores(postgres_url, tmp_path, 1) as (store,):
        acceptance = await store.create_jobs(
            numbers=["+12025550123"],
            prepared=_prepared(kept(data)),
            origin=ORIGIN,
            idempotency_key=None,
            now=NOW,
        )
        with store.open_document(acceptance.jobs[0].documents[0]) as handle:
            assert handle.seek(0, os.SEEK_END) == len(data)
            handle.seek(CHUNK - 3)
            assert handle.read(10) == data[CHUNK - 3 : CHUNK + 7]
            handle.seek(0)
            assert handle.read() == data


async def test_a_purged_document_cannot_be_opened(postgres_url: str, tmp_path: Path) -> None:
    """Once the retention sweep removed a document's chunks, opening it is DocumentMissing, not empty bytes."""
    async with _stores(postgres_url, tmp_path, 1) as (store,):
        (job_id,) = await _queue(store, ["+12025550123"])
        job = await store.transition(job_id, JobState.CANCELLED, reason="test", now=NOW)
        assert await store.purge_documents(NOW + timedelta(seconds=1)) == 1
        with pytest.raises(DocumentMissing):
            store.open_document(job.documents[0])


async def test_an_unreachable_server_is_store_unavailable(tmp_path: Path) -> None:
    """A store whose server does not answer fails to open with StoreUnavailable, a clear reason, not a hang."""
    store = PostgresJobStore("postgresql://nobody@127.0.0.1:1/none", tmp_path / "spool", connect_timeout=2.0)
    with pytest.raises(StoreUnavailable):
        await store.open()
