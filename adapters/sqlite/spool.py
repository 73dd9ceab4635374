"""The document spool: files written and fsynced before the job that names them is committed."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO

from bridge.privacy import PRIVATE_DIR, make_private_dir, open_private


class Spool:
    """A directory of document files, each written once, durably, under a fresh name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        make_private_dir(self.root)

    def write(self, data: bytes) -> str:
        """Store bytes durably and return the name to find them by."""
        name = secrets.token_hex(12)
        folder = self.root / name[:2]
        if not folder.is_dir():
            folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            _fsync_dir(self.root)
        final = folder / name
        partial = folder / f".{name}.part"
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
        _fsync_dir(folder)
        return f"{name[:2]}/{name}"

    def open(self, name: str) -> BinaryIO:
        return open(self.root / name, "rb")

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once its directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
