"""`faxbridge backup`: a consistent, private copy of the store that opens and lists the same jobs."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.sqlite import SqliteJobStore
from adapters.sqlite.backup import BackupFailed, backup_store
from bridge.errors import ConfigError
from bridge.model import Channel, Origin
from bridge.testing import sample_pdf
from tests.conftest import Clock
from tests.helpers.executable import Serve, faxbridge, operator_env

ORIGIN = Origin(channel=Channel.CLI, sender="ops", reply={})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    opened = SqliteJobStore(tmp_path / "var" / "faxbridge.db", tmp_path / "var" / "spool")
    await opened.open()
    yield opened
    await opened.close()


async def _jobs(store: SqliteJobStore, clock: Clock, count: int) -> list[str]:
    made = [
        await store.create_rejected(number=f"+1202555{i:04d}", origin=ORIGIN, reason="test", now=clock())
        for i in range(count)
    ]
    return [job.id for job in made]


async def _listed(database: Path, tmp_path: Path) -> set[str]:
    copy = SqliteJobStore(database, tmp_path / "restored-spool")
    await copy.open()
    try:
        return {job.id for job in await copy.list_jobs(limit=10_000)}
    finally:
        await copy.close()


async def test_copy_lists_the_same_jobs_and_is_private(
    store: SqliteJobStore, clock: Clock, tmp_path: Path
) -> None:
    """The copy opens as a store with every job, is one file with no -wal beside it, and is 0600
    under a permissive umask (mutation: the copy made with the process's umask)."""
    ids = await _jobs(store, clock, 5)
    target = tmp_path / "backups" / "faxbridge.db"
    target.parent.mkdir()
    previous = os.umask(0o022)
    try:
        made = backup_store(store.database, target)
    finally:
        os.umask(previous)
    assert (made.jobs, made.path) == (5, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(target.parent)) == ["faxbridge.db"]
    assert await _listed(target, tmp_path) == set(ids)


async def test_existing_file_is_kept_without_force_and_replaced_with_it(
    store: SqliteJobStore, clock: Clock, tmp_path: Path
) -> None:
    """A file at the target is left untouched without `force` (mutation: replacing regardless)."""
    await _jobs(store, clock, 2)
    target = tmp_path / "copy.db"
    target.write_bytes(b"yesterday's backup")
    with pytest.raises(BackupFailed, match="exists; use --force"):
        backup_store(store.database, target)
    assert target.read_bytes() == b"yesterday's backup"
    assert backup_store(store.database, target, force=True).jobs == 2
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_a_missing_store_is_named_and_never_created(tmp_path: Path) -> None:
    """Backing up a data directory with no store says so and creates nothing there."""
    database = tmp_path / "var" / "faxbridge.db"
    with pytest.raises(ConfigError, match="no faxbridge store at .*FAXBRIDGE_DATA_DIR"):
        backup_store(database, tmp_path / "copy.db")
    assert not database.parent.exists()
    assert not (tmp_path / "copy.db").exists()


async def test_copy_made_while_jobs_are_written_is_whole(
    store: SqliteJobStore, clock: Clock, tmp_path: Path
) -> None:
    """Jobs written during the copy leave it consistent: it passes SQLite's integrity check and holds
    between the jobs there before and after, each with its history."""
    await _jobs(store, clock, 50)
    writing = asyncio.create_task(_jobs(store, clock, 200))
    made = await asyncio.to_thread(backup_store, store.database, tmp_path / "copy.db")
    await writing
    assert 50 <= made.jobs <= 250
    with sqlite3.connect(made.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        orphans = conn.execute(
            "SELECT count(*) FROM jobs WHERE id NOT IN (SELECT job_id FROM transitions)"
        ).fetchone()
    assert orphans == (0,)


@pytest.mark.slow  # a real serve working while it is backed up
def test_backup_command_against_a_running_serve(tmp_path: Path) -> None:
    """`faxbridge backup` while `serve` runs writes a 0600 copy whose jobs `faxbridge jobs` lists as the
    live store does, and will not overwrite it again without --force."""
    serve = Serve(tmp_path, FAXBRIDGE_SANDBOX_DELAY_SECONDS="0.1", FAXBRIDGE_POLL_SECONDS="0.2")
    try:
        document = tmp_path / "letter.pdf"
        document.write_bytes(sample_pdf(1))
        for number in ("+12025550123", "+12025550188", "+12025550199"):
            assert serve.run("send", "--to", number, str(document)).returncode == 0
        target = tmp_path / "backups" / "faxbridge.db"
        target.parent.mkdir()
        made = serve.run("backup", str(target))
        live = {job["id"] for job in serve.jobs()}
        again = serve.run("backup", str(target))
        forced = serve.run("backup", "--force", str(target))
    finally:
        serve.stop()
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backed up 3 jobs to {target}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    restored = faxbridge(operator_env(target.parent), "jobs", "--json")
    assert restored.returncode == 0, restored.stderr
    assert {job["id"] for job in json.loads(restored.stdout)} == live
    assert again.returncode == 1
    assert again.stderr.strip() == f"faxbridge: {target} exists; use --force to replace it"
    assert forced.returncode == 0, forced.stderr


def test_backup_command_without_a_store_creates_nothing(tmp_path: Path) -> None:
    """`faxbridge backup` on a data directory with no store exits 2 naming it, and creates no store."""
    done = faxbridge(operator_env(tmp_path / "var"), "backup", str(tmp_path / "copy.db"))
    assert done.returncode == 2
    assert "no faxbridge store at" in done.stderr and "FAXBRIDGE_DATA_DIR" in done.stderr
    assert not (tmp_path / "var").exists()
    assert not (tmp_path / "copy.db").exists()
