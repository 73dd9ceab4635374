"""Tasks for the worker-pool tests: module-level, so a worker process can import them by name."""

from __future__ import annotations

import os
import time


def add_one(value: int) -> int:
    return value + 1


def pid() -> int:
    return os.getpid()


def spin(seconds: float) -> str:
    """Busy for `seconds` (a runaway parser)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def allocate(size: int) -> int:
    """Ask for `size` bytes at once (a decompression bomb)."""
    return len(bytearray(size))


def die() -> None:
    """End the worker the way a crash in a C library would."""
    os._exit(9)
