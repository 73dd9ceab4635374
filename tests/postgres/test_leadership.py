"""One bridge of a group does the group's work (status polling, the webhook), and another takes over when it goes."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg

from adapters.postgres.leader import Leadership


class Duty:
    """Records whether its leader is doing the work right now."""

    def __init__(self) -> None:
        self.running = False
        self.started = 0

    async def __call__(self) -> None:
        self.running, self.started = True, self.started + 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False


async def _until(predicate: object, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never came true")


async def test_exactly_one_instance_leads_and_another_takes_over_when_it_stops(postgres_url: str) -> None:
    """Of three instances one runs the duties; when it stops (its lock connection closes) another starts them."""
    duties = [Duty() for _ in range(3)]
    leaders = [Leadership(postgres_url, every=0.1) for _ in range(3)]
    tasks = [asyncio.create_task(lead.run(duty)) for lead, duty in zip(leaders, duties, strict=True)]
    try:
        await _until(lambda: sum(d.running for d in duties) == 1)
        await asyncio.sleep(0.5)  # others keep trying, and never join in
        assert sum(d.running for d in duties) == 1
        first = next(i for i, d in enumerate(duties) if d.running)
        tasks[first].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[first]
        await _until(lambda: sum(d.running for i, d in enumerate(duties) if i != first) == 1)
        assert not duties[first].running
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_leader_whose_connection_is_cut_stops_its_duties(postgres_url: str) -> None:
    """When the leader's lock connection is terminated by the server, its duties are cancelled and the
    other instance leads: two leaders never work at once.

    Mutation caught: not checking the lock connection while leading (the cut-off leader would go on).
    """
    duties = [Duty(), Duty()]
    leaders = [Leadership(postgres_url, every=0.1) for _ in range(2)]
    tasks = [asyncio.create_task(lead.run(duty)) for lead, duty in zip(leaders, duties, strict=True)]
    try:
        await _until(lambda: sum(d.running for d in duties) == 1)
        first = next(i for i, d in enumerate(duties) if d.running)
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
        await _until(lambda: duties[1 - first].running)
        assert not duties[first].running
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_restart_runs_the_duties_again_with_the_lock_kept(postgres_url: str) -> None:
    """A duty added later (the webhook, once the HTTP server is up) starts on the leader without an election."""
    duty = Duty()
    leader = Leadership(postgres_url, every=0.1)
    task = asyncio.create_task(leader.run(duty))
    try:
        await _until(lambda: duty.running)
        leader.restart()
        await _until(lambda: duty.started == 2 and duty.running)
        assert leader.leading
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
