"""Bridges on one database spend one RingCentral budget: together they keep the limit and every 429 pause."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import psycopg

from adapters.postgres import PostgresJobStore
from adapters.postgres.ratelimit import PostgresBudget
from adapters.ringcentral.limiter import RateLimiter, arrival_margin

LIMIT, WINDOW = 5, 1.0


async def _send_times(url: str) -> list[float]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (
            await conn.execute("SELECT at FROM rate_sends WHERE name = 'heavy' ORDER BY at")
        ).fetchall()
    return [float(r[0]) for r in rows]


async def test_two_bridges_together_never_exceed_the_window_and_keep_the_spacing(
    postgres_url: str, tmp_path: Path
) -> None:
    """Two limiters sending 12 requests each at once stay, together, within LIMIT per sliding WINDOW (by the
    database's clock) and at least WINDOW/LIMIT apart.

    Mutation caught: taking a send without the group's row lock (two instances would count the same free slot).
    """
    stores = [PostgresJobStore(postgres_url, tmp_path / f"s{i}") for i in range(2)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        limiters = [RateLimiter(groups={"heavy": (LIMIT, WINDOW)}) for _ in stores]
        for limiter, store in zip(limiters, stores, strict=True):
            limiter.share(PostgresBudget(store))

        async def send(limiter: RateLimiter) -> None:
            for _ in range(12):
                await limiter.acquire("heavy")

        await asyncio.gather(*(send(limiter) for limiter in limiters for _ in range(2)))
        times = await _send_times(postgres_url)
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert len(times) == 48
    gap = WINDOW / LIMIT
    assert all(later - earlier >= gap - 1e-6 for earlier, later in itertools.pairwise(times))
    assert all(
        times[i + LIMIT] - times[i] >= WINDOW + arrival_margin(WINDOW) - 1e-6
        for i in range(len(times) - LIMIT)
    )


async def test_a_429_seen_by_one_bridge_pauses_the_other(postgres_url: str, tmp_path: Path) -> None:
    """After one limiter records a 2 s penalty, the other's next send is counted no sooner than it ends."""
    stores = [PostgresJobStore(postgres_url, tmp_path / f"s{i}") for i in range(2)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        first, second = (RateLimiter(groups={"heavy": (LIMIT, WINDOW)}) for _ in stores)
        first.share(PostgresBudget(stores[0]))
        second.share(PostgresBudget(stores[1]))
        await PostgresBudget(stores[0]).penalize(2.0)
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            row = await (
                await conn.execute("SELECT penalty_until FROM rate_groups WHERE name = '*'")
            ).fetchone()
        assert row is not None
        await second.acquire("heavy")
        (sent,) = await _send_times(postgres_url)
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert sent >= float(row[0])
