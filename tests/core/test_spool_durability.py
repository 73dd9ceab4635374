"""Durability rule 1 at the system-call level: each document is fsynced, renamed into place and its directory
fsynced before the transaction that names it commits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.sqlite import SqliteJobStore
from bridge.model import Channel, Document, DocumentRole, Envelope, Origin, PreparedFax
from tests.conftest import Clock

NUMBER = "+12025550123"


def _prepared() -> PreparedFax:
    cover = Document(
        name="cover.pdf", content_type="application/pdf", pages=1, data=b"%PDF-cover", role=DocumentRole.COVER
    )
    documents = (
        Document(name="a.pdf", content_type="application/pdf", pages=2, data=b"%PDF-a"),
        Document(name="b.png", content_type="image/png", pages=1, data=b"\x89PNG-b"),
    )
    return PreparedFax(envelope=Envelope(cover_index=0), documents=documents, covers={NUMBER: cover})


async def test_spool_fsyncs_file_then_directory_then_the_job_commits(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For every document: fsync(file) < rename < fsync(its directory) < COMMIT of the job row.

    Mutations caught: dropping the file's fsync, dropping the directory's fsync, and fsyncing the
    directory before the rename (the new name would not be durable).
    """
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        events.append(("rename", str(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)  # recording only: every call still reaches the disk
    monkeypatch.setattr(os, "replace", replace)
    spool = tmp_path / "spool"
    store = SqliteJobStore(tmp_path / "faxbridge.db", spool)
    await store.open()
    try:
        store.conn.set_trace_callback(lambda sql: events.append(("sql", sql.split("(")[0].strip())))
        await store.create_jobs(
            numbers=[NUMBER],
            prepared=_prepared(),
            origin=Origin(channel=Channel.CLI, sender="ann"),
            idempotency_key=None,
            now=clock(),
        )
        names = [row[0] for row in store.conn.execute("SELECT spool_name FROM documents").fetchall()]
    finally:
        await store.close()

    inserted = events.index(("sql", "INSERT INTO jobs"))
    commit = events.index(("sql", "COMMIT"), inserted)
    assert len(names) == 3
    for name in names:
        final = spool / name
        partial = final.with_name(f".{final.name}.part")
        synced = events.index(("fsync", str(partial)))
        renamed = events.index(("rename", str(final)), synced)
        directory = events.index(("fsync", str(final.parent)), renamed)
        assert synced < renamed < directory < commit, (name, events)
