"""The data directory is private by construction: directories 0700, files 0600, checked at start."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from bridge.errors import ConfigError

# What the bridge creates is for its own user only: numbers, senders, subjects and documents.
PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Create every file and directory private, whoever creates it (SQLite, libraries), for the block."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) with mode 0700; an existing directory is left as it is."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def create_private_file(path: Path) -> None:
    """Create an empty file with mode 0600 unless it exists, so whatever writes it later keeps that mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    os.close(fd)


def open_private(path: Path, flags: int) -> int:
    """os.open with mode 0600 for a file it creates."""
    return os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE)


def too_open(root: Path, extra: Iterable[Path] = ()) -> list[tuple[Path, int]]:
    """Everything under `root` (and the `extra` files) that group or others can reach, with its mode."""
    found: list[tuple[Path, int]] = []
    for path in (*_tree(root), *extra):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
            found.append((path, stat.S_IMODE(mode)))
    return found


def secure(root: Path, extra: Iterable[Path] = ()) -> int:
    """Make `root` and everything in it private (and the `extra` files); return how many were fixed.

    Raise ConfigError, in one line, when something is wider than private and cannot be made so.
    """
    make_private_dir(root)
    fixed = 0
    for path, mode in too_open(root, extra):
        private = PRIVATE_DIR if stat.S_ISDIR(os.lstat(path).st_mode) else PRIVATE_FILE
        try:
            os.chmod(path, mode & private)
        except OSError as exc:
            raise ConfigError(
                f"{path} is readable by other users (mode {mode:04o}) and cannot be made private"
                f" ({exc.strerror}); as its owner run: chmod -R go= {root}"
            ) from exc
        fixed += 1
    return fixed


def _tree(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    yield root
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in (*dirs, *files):
            yield base / name
