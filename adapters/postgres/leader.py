"""One instance at a time does the work of the whole group (status polling, the webhook subscription).

The elected instance holds a PostgreSQL advisory lock on a connection of its own. The lock
goes when that connection does: a process that stops or is killed loses it at once, and a
machine that vanishes loses it when the server's TCP keepalives give up on it (about 30 s).
The others try for the lock every few seconds, so one of them takes over within a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg

log = logging.getLogger("faxbridge.leader")
LEADER_LOCK = 0x66617863  # the advisory lock every instance of one database competes for
TRY_EVERY = 5.0  # seconds between attempts to take the lock, and between checks that it is still held
# The server notices a silent peer within idle + interval * count seconds and frees its lock.
KEEPALIVE_OPTIONS = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"


class Leadership:
    """Runs `lead()` only while this instance holds the group's lock; cancels it when the lock is lost."""

    def __init__(self, url: str, *, lock: int = LEADER_LOCK, every: float = TRY_EVERY) -> None:
        self.url = url
        self.lock = lock
        self.every = every
        self.leading = False
        self._lead_task: asyncio.Task[None] | None = None

    def restart(self) -> None:
        """Start the duties again (one was added), keeping the lock if it is held."""
        if self._lead_task is not None:
            self._lead_task.cancel()

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Until cancelled: take the lock when free, and lead while it is held."""
        while True:
            try:
                await self._hold_and_lead(lead)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning("leadership: the database connection failed (%s)", type(exc).__name__)
            finally:
                self.leading = False
            await asyncio.sleep(self.every)

    async def _hold_and_lead(self, lead: Callable[[], Awaitable[None]]) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            prepare_threshold=None,
            options=KEEPALIVE_OPTIONS,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        async with conn:
            while True:
                row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock,))).fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(self.every)
            self.leading = True
            log.info("leading: this instance polls status and keeps the webhook subscription")
            try:
                await self._lead_while_held(conn, lead)
            finally:
                log.info("no longer leading")

    async def _lead_while_held(
        self, conn: psycopg.AsyncConnection[tuple[object, ...]], lead: Callable[[], Awaitable[None]]
    ) -> None:
        while True:
            task = self._lead_task = asyncio.create_task(_run_lead(lead), name="leader-duties")
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=self.every)
                    if not task.done():
                        await conn.execute("SELECT 1")  # raises when the connection, and the lock, are gone
            finally:
                self._lead_task = None
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if not task.cancelled():
                # The duties ended by themselves (an error was logged): pause, then lead again.
                await asyncio.sleep(self.every)


async def _run_lead(lead: Callable[[], Awaitable[None]]) -> None:
    try:
        await lead()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the leader's duties stopped unexpectedly")
