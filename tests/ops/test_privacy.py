"""The data directory is private by construction: whoever creates its files, under any umask, and checked at start."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.cli.lock import ServeLock
from adapters.cli.main import main
from adapters.cli.serve import serve
from adapters.sqlite import SqliteJobStore
from bridge.model import Channel, Document, Envelope, Origin, PreparedFax
from bridge.privacy import secure
from bridge.settings import Settings
from bridge.testing import kept
from tests.conftest import Clock


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The umask of a typical login shell, under which files are 0644 unless created otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _wide(root: Path) -> dict[str, str]:
    return {name: oct(mode) for name, mode in _modes(root).items() if mode & 0o077}


@pytest.mark.usefixtures("permissive_umask")
async def test_the_store_creates_private_files_under_any_umask(tmp_path: Path, clock: Clock) -> None:
    """Database, -wal, -shm and spool files are 0600 and their directories 0700 even with umask 022.

    Mutations caught: connecting SQLite without creating the database file 0600 first, and writing
    spool files with open(..., "wb").
    """
    root = tmp_path / "var"
    store = SqliteJobStore(root / "faxbridge.db", root / "spool")
    await store.open()
    try:
        document = Document(name="a.pdf", content_type="application/pdf", pages=1, content=kept(b"%PDF-a"))
        await store.create_jobs(
            numbers=["+12025550123"],
            prepared=PreparedFax(envelope=Envelope(cover_index=0), documents=(document,)),
            origin=Origin(channel=Channel.CLI, sender="ann"),
            idempotency_key=None,
            now=clock(),
        )
        names = set(_modes(root))
        assert {"faxbridge.db", "faxbridge.db-wal", "faxbridge.db-shm", "spool"} <= names
        assert sum(1 for p in (root / "spool").rglob("*") if p.is_file()) == 1
        assert _wide(root) == {}
    finally:
        await store.close()


@pytest.mark.usefixtures("permissive_umask")
def test_the_serve_lock_is_private_under_any_umask(tmp_path: Path) -> None:
    """The lock `serve` takes first creates the data directory 0700 and itself 0600.

    Mutation caught: ServeLock creating the directory with mkdir(parents=True) and the file with open("a+").
    """
    lock = ServeLock(tmp_path / "var")
    assert lock.acquire()
    try:
        assert _modes(tmp_path / "var") == {".": 0o700, "serve.lock": 0o600}
    finally:
        lock.release()


def _wide_data_dir(root: Path) -> None:
    """A data directory as an older faxbridge, or a careless restore, may have left it."""
    (root / "spool" / "ab").mkdir(parents=True)
    (root / "spool" / "ab" / "abcdef").write_bytes(b"%PDF-a")
    (root / "faxbridge.db").write_bytes(b"")
    for path in (root, root / "spool", root / "spool" / "ab"):
        path.chmod(0o755)
    for path in (root / "faxbridge.db", root / "spool" / "ab" / "abcdef"):
        path.chmod(0o644)


async def test_serve_makes_a_wide_data_directory_private_at_start(tmp_path: Path) -> None:
    """A data directory left 0755 with 0644 files is private once `serve` has started.

    Mutation caught: serve starting without checking the data directory.
    """
    root = tmp_path / "var"
    _wide_data_dir(root)
    settings = Settings.from_mapping(
        {"data_dir": str(root), "smtp_port": "0", "http_port": "0", "sandbox_delay_seconds": "0.05"}
    )
    stop = asyncio.Event()
    await asyncio.wait_for(serve(settings, ready=lambda _: stop.set(), stop=stop), 30)
    assert _wide(root) == {}


def test_serve_refuses_to_start_when_the_data_cannot_be_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """If a wide file cannot be made private, `serve` exits 2 with one line naming it and the fix."""
    root = tmp_path / "var"
    _wide_data_dir(root)
    for name in list(os.environ):
        if name.startswith("FAXBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAXBRIDGE_DATA_DIR", str(root))

    def refused(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("bridge.privacy.os.chmod", refused)  # a file owned by someone else
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is readable by other users (mode 0755) and cannot be made private" in err
    assert f"chmod -R go= {root}" in err
    assert not (root / "serve.lock").exists()  # refused before touching anything


def test_secure_never_widens_and_names_what_it_fixed(tmp_path: Path) -> None:
    """secure() only removes group and other bits (a 0444 file becomes 0400) and counts each fix."""
    root = tmp_path / "var"
    _wide_data_dir(root)
    (root / "readonly").write_bytes(b"x")
    (root / "readonly").chmod(0o444)
    assert secure(root) == 6
    assert _modes(root)["readonly"] == 0o400
    assert _wide(root) == {}
    assert secure(root) == 0
