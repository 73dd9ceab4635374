"""`faxbridge migrate-store` moves a SQLite store, bytes and all, into PostgreSQL, where the bridge carries on."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.postgres import PostgresJobStore
from adapters.sqlite import SqliteJobStore
from bridge.model import Channel, Document, Envelope, Origin, PreparedFax
from bridge.states import JobState
from bridge.testing import kept, sample_pdf

ORIGIN = Origin(channel=Channel.EMAIL, sender="ann@example.com", reply={"message_id": "<m1@example.com>"})
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _faxbridge(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env["FAXBRIDGE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _sqlite_store(var: Path) -> tuple[list[str], bytes]:
    """A store as a bridge leaves it: one job sent, one queued, a notice delivered, a key seen."""
    pdf = sample_pdf(2)
    store = SqliteJobStore(var / "faxbridge.db", var / "spool")
    await store.open()
    try:
        prepared = PreparedFax(
            envelope=Envelope(cover_index=0),
            documents=(Document(name="a.pdf", content_type="application/pdf", pages=2, content=kept(pdf)),),
        )
        acceptance = await store.create_jobs(
            numbers=["+12025550123", "+12025550188"],
            prepared=prepared,
            origin=ORIGIN,
            idempotency_key="<m1@example.com>",
            now=NOW,
        )
        claimed = await store.claim_due(NOW, lease_until=NOW + timedelta(minutes=5))
        assert claimed is not None
        await store.transition(claimed.id, JobState.SUBMITTED, reason="accepted", provider_id="m-1", now=NOW)
        replies = await store.pending_replies(NOW)
        await store.reply_done([replies[0].id], now=NOW)
        await store.remember("slack-event-1", now=NOW)
        await store.keep_message(claimed.id, "C1", "1700000000.0001")
        return [job.id for job in acceptance.jobs], pdf
    finally:
        await store.close()


async def test_migrate_store_copies_jobs_history_notices_and_bytes(postgres_url: str, tmp_path: Path) -> None:
    """Every job keeps its id, state, history and documents' bytes; owed notices, seen keys and status messages
    come along; and the PostgreSQL store then claims the queued job and takes new ones."""
    var = tmp_path / "var"
    ids, pdf = await _sqlite_store(var)
    done = _faxbridge(
        tmp_path, "migrate-store", "--from", f"sqlite:{var / 'faxbridge.db'}", "--to", postgres_url
    )
    assert done.returncode == 0, done.stderr
    assert "copied 2 jobs and 1 documents" in done.stdout

    old = SqliteJobStore(var / "faxbridge.db", var / "spool")
    new = PostgresJobStore(postgres_url, tmp_path / "pg-spool")
    await old.open()
    await new.open()
    try:
        for job_id in ids:
            before, after = await old.get(job_id), await new.get(job_id)
            assert after.state is before.state
            assert after.history == before.history
            assert after.provider_id == before.provider_id
            assert [(d.name, d.size, d.role) for d in after.documents] == [
                (d.name, d.size, d.role) for d in before.documents
            ]
            with new.open_document(after.documents[-1]) as handle:
                assert handle.read() == pdf
        assert [r.kind for r in await new.pending_replies(NOW)] == [
            r.kind for r in await old.pending_replies(NOW)
        ]
        assert not await new.remember("slack-event-1", now=NOW)
        assert await new.message_of(ids[0]) == ("C1", "1700000000.0001")
        assert [j.id for j in await new.jobs_for_key("<m1@example.com>")] == [
            j.id for j in await old.jobs_for_key("<m1@example.com>")
        ]
        queued = await new.claim_due(NOW, lease_until=NOW + timedelta(minutes=5))
        assert queued is not None and queued.id == ids[1]
        await new.remember("slack-event-2", now=NOW)  # sequences continue past the copied rows
        await new.create_rejected(number="+12025550199", origin=ORIGIN, reason="test", now=NOW)
    finally:
        await old.close()
        await new.close()


async def test_migrate_store_refuses_a_database_that_already_holds_jobs(
    postgres_url: str, tmp_path: Path
) -> None:
    """Migrating into a PostgreSQL database with jobs copies nothing and says why, exit 1."""
    var = tmp_path / "var"
    await _sqlite_store(var)
    source = f"sqlite:{var / 'faxbridge.db'}"
    assert (
        _faxbridge(tmp_path / "other", "migrate-store", "--from", source, "--to", postgres_url).returncode
        == 0
    )
    again = _faxbridge(tmp_path / "other", "migrate-store", "--from", source, "--to", postgres_url)
    assert again.returncode == 1
    assert "already holds jobs" in again.stderr
