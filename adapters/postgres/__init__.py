"""The shared job store: PostgreSQL, for several bridges on one queue; document bytes in the database."""

from adapters.postgres.inbox import PostgresRequestInbox
from adapters.postgres.store import PostgresJobStore

__all__ = ["PostgresJobStore", "PostgresRequestInbox"]
