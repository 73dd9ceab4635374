"""The document spool: files synced to disk, and their directory entry too, before a job names them."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from bridge.privacy import PRIVATE_DIR, make_private_dir, open_private


class Spool:
    """A directory of document files, each kept once, durably, under a fresh name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        make_private_dir(self.root)

    def _fresh(self) -> tuple[Path, str]:
        name = secrets.token_hex(12)
        folder = self.root / name[:2]
        if not folder.is_dir():
            folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            _fsync_dir(self.root)
        return folder / name, f"{name[:2]}/{name}"

    def write(self, data: bytes) -> str:
        """Store bytes durably and return the name to find them by."""
        final, name = self._fresh()
        partial = final.with_name(f".{final.name}.part")
        try:
            # Created 0600 whatever the umask: a document is for the bridge's user alone.
            with open(open_private(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)  # a half-written file helps no one, least of all on a full disk
            raise
        _fsync_dir(final.parent)
        return name

    def adopt(self, source: Path) -> str:
        """Take a file an intake wrote: sync its bytes, link it in under a fresh name, sync the entry.

        A link, not a copy: the bytes are written once. The intake may remove its own name after.
        """
        final, name = self._fresh()
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(source, final)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            self._copy(source, final)  # another file system (or no hard links): copy and sync instead
        _fsync_dir(final.parent)
        return name

    def _copy(self, source: Path, final: Path) -> None:
        partial = final.with_name(f".{final.name}.part")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def open(self, name: str) -> BinaryIO:
        return open(self.root / name, "rb")

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    # A new name is durable only once its directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
