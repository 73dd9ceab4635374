"""The serve lock: an advisory lock in the data directory, held while `faxbridge serve` runs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from bridge.privacy import make_private_dir, open_private


class ServeLock:
    """An advisory lock in the data directory: held while `serve` runs, so `send` knows."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "serve.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        make_private_dir(self.path.parent)
        # Held open for as long as the lock is; created 0600 like everything in the data directory.
        handle = os.fdopen(open_private(self.path, os.O_RDWR | os.O_CREAT), "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return True

    def held_by_other(self) -> bool:
        if not self.acquire():
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
