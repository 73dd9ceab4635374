"""One RingCentral rate budget for every bridge on the database: sends and 429 penalties counted in tables.

The server's clock is the one clock all instances share; a group's row lock makes one instance
at a time decide whether a send may go, so N bridges together keep to the limit exactly.
"""

from __future__ import annotations

from adapters.postgres.store import Cursor, PostgresJobStore

EVERY_GROUP = "*"  # the row holding the penalty that pauses every group
KEEP_SECONDS = 600.0  # sends older than this are forgotten (longer than any window RingCentral uses)


class PostgresBudget:
    """The SharedBudget of the RingCentral limiter, kept in rate_groups and rate_sends."""

    def __init__(self, store: PostgresJobStore) -> None:
        self._store = store

    async def take(self, group: str, *, limit: int, window: float, gap: float, margin: float) -> float:
        async def decide(cur: Cursor) -> float:
            await cur.execute(
                "INSERT INTO rate_groups (name) VALUES (%s), (%s) ON CONFLICT DO NOTHING",
                (group, EVERY_GROUP),
            )
            # The group's row lock: one instance at a time counts and sends.
            await cur.execute(
                "SELECT learned_limit, learned_window FROM rate_groups WHERE name = %s FOR UPDATE", (group,)
            )
            learned = await cur.fetchone()
            most, span, spacing = limit, window, gap
            if learned and learned["learned_limit"]:
                # What the server told any instance beats the defaults a newly started one assumes.
                most, span = int(learned["learned_limit"]), float(learned["learned_window"])
                spacing = span / most if gap > 0 else 0.0
            await cur.execute(
                "SELECT extract(epoch FROM clock_timestamp())::float8 AS now,"
                " (SELECT MAX(penalty_until) FROM rate_groups) AS penalty"
            )
            row = await cur.fetchone()
            assert row is not None
            now, penalty = float(row["now"]), float(row["penalty"] or 0.0)
            await cur.execute(
                "DELETE FROM rate_sends WHERE name = %s AND at < %s", (group, now - KEEP_SECONDS)
            )
            await cur.execute(
                "SELECT at FROM rate_sends WHERE name = %s AND at > %s ORDER BY at DESC LIMIT %s",
                # A send still counts for `margin` past the window: the server counted its arrival.
                (group, now - span - margin, most),
            )
            recent = [float(r["at"]) for r in await cur.fetchall()]
            wait = penalty - now
            if recent:
                wait = max(wait, recent[0] + spacing - now)
            if len(recent) >= most:
                wait = max(wait, recent[most - 1] + span + margin - now)
            if wait > 0:
                return wait
            await cur.execute("INSERT INTO rate_sends (name, at) VALUES (%s, %s)", (group, now))
            return 0.0

        # Counting a send must not wait for a disk flush; a lost count is one send a server crash forgot.
        return await self._store._run(decide, durable=False)

    async def learn(self, group: str, *, limit: int, window: float) -> None:
        async def keep(cur: Cursor) -> None:
            await cur.execute(
                "INSERT INTO rate_groups (name, learned_limit, learned_window) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET learned_limit = EXCLUDED.learned_limit,"
                " learned_window = EXCLUDED.learned_window",
                (group, limit, window),
            )

        await self._store._run(keep, durable=False)

    async def penalize(self, seconds: float) -> None:
        async def pause(cur: Cursor) -> None:
            await cur.execute(
                "INSERT INTO rate_groups (name, penalty_until)"
                " VALUES (%s, extract(epoch FROM clock_timestamp()) + %s)"
                " ON CONFLICT (name) DO UPDATE SET penalty_until ="
                " GREATEST(rate_groups.penalty_until, EXCLUDED.penalty_until)",
                (EVERY_GROUP, seconds),
            )

        await self._store._run(pause, durable=False)
