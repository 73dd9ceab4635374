"""`faxbridge backup`: an online, consistent copy of the SQLite store through SQLite's backup API."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import BridgeError, ConfigError
from bridge.privacy import PRIVATE_FILE, open_private

# A running `serve` may hold its write lock for a moment; wait for it rather than fail.
BUSY_TIMEOUT_SECONDS = 30


class BackupFailed(BridgeError):
    """The copy was not made."""


@dataclass(frozen=True)
class Backup:
    """What was written: where, how many jobs it holds and its size."""

    path: Path
    jobs: int
    size: int


def backup_store(database: Path, target: Path, *, force: bool = False) -> Backup:
    """Copy the store at `database` to `target` (mode 0600) while it may be in use.

    The copy is one read transaction of the source, so it is consistent however busy `serve` is;
    it is written next to `target` under another name and moved into place only when complete,
    so `target` is never half written. An existing `target` is replaced only with `force`.
    """
    if not database.is_file():
        # Never open (and so create) a store that is not there: the data directory is wrong.
        raise ConfigError(
            f"no faxbridge store at {database}; set FAXBRIDGE_DATA_DIR (or FAXBRIDGE_DATABASE_URL) to"
            " the data directory `serve` uses"
        )
    if target.is_dir():
        raise BackupFailed(f"{target} is a directory; name the file to write")
    if not target.parent.is_dir():
        raise BackupFailed(f"{target.parent} does not exist")
    if target.exists() and not force:
        raise BackupFailed(f"{target} exists; use --force to replace it")
    with contextlib.suppress(OSError):
        if target.exists() and os.path.samefile(target, database):
            raise BackupFailed(f"{target} is the store itself")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _copy(database, partial)
        jobs = _count_jobs(partial)
        _put_in_place(partial, target, force=force)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(path=target, jobs=jobs, size=target.stat().st_size)


def _copy(database: Path, partial: Path) -> None:
    # Created 0600 before SQLite writes a byte, like everything in the data directory.
    os.close(open_private(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    os.chmod(partial, PRIVATE_FILE)  # an old leftover of the same name keeps no wider mode
    source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        copy = sqlite3.connect(partial)
        try:
            # pages=-1: the whole store in one step, inside one read transaction of the source.
            source.backup(copy)
            # The store runs in WAL mode; the copy is one self-contained file, with no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            found = copy.execute("PRAGMA integrity_check").fetchone()
            if found != ("ok",):
                raise BackupFailed(
                    f"the copy failed its integrity check: {found[0] if found else 'no answer'}"
                )
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise BackupFailed(f"could not copy {database}: {exc}") from exc
    finally:
        source.close()
    with open(partial, "rb") as written:
        os.fsync(written.fileno())


def _count_jobs(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT count(*) FROM jobs").fetchone()
    return int(row[0])


def _put_in_place(partial: Path, target: Path, *, force: bool) -> None:
    if force:
        os.replace(partial, target)
    else:
        try:
            # A hard link never replaces: a file that appeared meanwhile is kept, not overwritten.
            os.link(partial, target)
        except FileExistsError as exc:
            raise BackupFailed(f"{target} exists; use --force to replace it") from exc
        except OSError:
            # A file system without hard links: check, then move (a race here is the operator's own).
            if target.exists():
                raise BackupFailed(f"{target} exists; use --force to replace it") from None
            os.replace(partial, target)
    with contextlib.suppress(OSError):  # not every file system lets a directory be synced
        directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
