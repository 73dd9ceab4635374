"""Bytes kept in files: what a request's documents are while they travel from an intake to the store.

An intake writes what it receives into a private scratch folder as it arrives (counting and
hashing on the way), the parsers read and write files there, and the store takes the files it
keeps by linking them into its spool. Nothing on the way holds a whole document in memory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["SCRATCH_MAX_AGE_SECONDS", "Scratch", "SpoolWriter", "Spooled", "scratch_root", "sweep_scratch"]

CHUNK = 1 << 20
# A scratch folder older than this belongs to an intake that died; no intake takes an hour.
SCRATCH_MAX_AGE_SECONDS = 3600.0


@dataclass(frozen=True, kw_only=True)
class Spooled:
    """Bytes in a file: where they are, how many, and their SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str

    def open(self) -> BinaryIO:
        return open(self.path, "rb")

    def read(self) -> bytes:
        """The whole content; for small files only (text bodies, tests)."""
        return self.path.read_bytes()

    def head(self, count: int) -> bytes:
        with self.open() as handle:
            return handle.read(count)


class SpoolWriter:
    """Writes one file a chunk at a time, counting and hashing as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._hash = hashlib.sha256()
        # Private from birth: what people fax is nobody else's business on this machine.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._file is None:
            raise ValueError("the file is already finished")
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def done(self, *, durable: bool = False) -> Spooled:
        """Close the file and describe it; `durable` fsyncs it first."""
        if self._file is None:
            raise ValueError("the file is already finished")
        try:
            self._file.flush()
            if durable:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None
        return Spooled(path=self.path, size=self.size, sha256=self._hash.hexdigest())

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


class Scratch:
    """One request's private folder for its files, removed with everything in it when the request is done.

    The store links the files it keeps, so removing the folder never touches a stored document.
    """

    def __init__(self, root: Path, path: Path | None = None) -> None:
        self.root = root
        self.path = path or root / f"{int(time.time())}-{secrets.token_hex(8)}"
        self._count = 0

    @classmethod
    def create(cls, root: Path) -> Scratch:
        scratch = cls(root)
        scratch.make()
        return scratch

    def make(self) -> None:
        """Create the folder on disk (and its root); nothing if it is there."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.mkdir(mode=0o700, exist_ok=True)

    def name(self, hint: str = "part") -> Path:
        """A fresh file name in this folder."""
        self._count += 1
        return self.path / f"{self._count:05d}-{secrets.token_hex(4)}.{hint}"

    def writer(self, hint: str = "part") -> SpoolWriter:
        return SpoolWriter(self.name(hint))

    def keep(self, data: bytes, hint: str = "part") -> Spooled:
        """Bytes already in memory, as a file here."""
        writer = self.writer(hint)
        writer.write(data)
        return writer.done()

    def copy(self, source: Path, hint: str = "part") -> Spooled:
        """A copy of a file (the original may change after it was handed in)."""
        writer = self.writer(hint)
        try:
            with open(source, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        return writer.done()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def scratch_root(spool_dir: Path) -> Path:
    """Where intakes keep their scratch folders: inside the spool, so the store can link their files."""
    return spool_dir / "incoming"


def sweep_scratch(root: Path, *, now: float | None = None) -> int:
    """Remove scratch folders left by intakes that died; return how many."""
    if not root.is_dir():
        return 0
    limit = (time.time() if now is None else now) - SCRATCH_MAX_AGE_SECONDS
    removed = 0
    for entry in root.iterdir():
        born, _, _ = entry.name.partition("-")
        if born.isdigit() and int(born) < limit:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed
