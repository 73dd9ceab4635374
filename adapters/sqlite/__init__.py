"""The embedded job store: SQLite in WAL mode, document bytes in an fsynced spool directory."""

from adapters.sqlite.store import SqliteJobStore

__all__ = ["SqliteJobStore"]
