"""The worker pool for untrusted parsing: a runaway task is stopped, a greedy one capped, and the pool goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bridge.workers import ProcessWorkers, ThreadWorkers, WorkCrashed, WorkTimedOut
from tests.core import worker_tasks


@pytest.fixture
async def workers() -> AsyncIterator[ProcessWorkers]:
    pool = ProcessWorkers(size=2, memory_bytes=512 * 1024 * 1024)
    yield pool
    await pool.close()


async def test_a_task_runs_in_another_process(workers: ProcessWorkers) -> None:
    """Work is done in a worker process, and its result comes back."""
    import os

    assert await workers.run(worker_tasks.add_one, 41, timeout=30) == 42
    assert await workers.run(worker_tasks.pid, timeout=30) != os.getpid()


async def test_a_runaway_task_is_stopped_and_the_pool_serves_the_next(workers: ProcessWorkers) -> None:
    """A task past its time limit ends in WorkTimedOut; its worker is replaced; the next task runs."""
    with pytest.raises(WorkTimedOut, match="longer than 0.5 seconds"):
        await workers.run(worker_tasks.spin, 60.0, timeout=0.5)
    assert await workers.run(worker_tasks.add_one, 1, timeout=30) == 2


async def test_memory_past_the_cap_fails_the_task_not_the_server(workers: ProcessWorkers) -> None:
    """Asking for more than the address-space cap is a WorkCrashed for that task; the pool goes on."""
    with pytest.raises(WorkCrashed, match="memory"):
        await workers.run(worker_tasks.allocate, 2 * 1024 * 1024 * 1024, timeout=30)
    assert await workers.run(worker_tasks.allocate, 1024, timeout=30) == 1024


async def test_a_worker_that_dies_is_a_failed_task(workers: ProcessWorkers) -> None:
    """A worker ended under its task (as by a crash in C) fails that task only."""
    with pytest.raises(WorkCrashed):
        await workers.run(worker_tasks.die, timeout=30)
    assert await workers.run(worker_tasks.add_one, 2, timeout=30) == 3


async def test_cancelling_the_caller_stops_the_task() -> None:
    """When the caller goes (an SMTP client hung up), its task is stopped: the one worker is free again."""
    single = ProcessWorkers(size=1)
    try:
        assert await single.run(worker_tasks.add_one, 0, timeout=30) == 1
        waiting = asyncio.ensure_future(single.run(worker_tasks.spin, 600.0, timeout=900))
        await asyncio.sleep(0.5)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # Were the spin still running, this would wait ten minutes behind it.
        assert await asyncio.wait_for(single.run(worker_tasks.add_one, 1, timeout=60), 30) == 2
    finally:
        await single.close()


async def test_thread_workers_keep_the_same_contract() -> None:
    """The in-thread stand-in returns results and reports a late task as WorkTimedOut."""
    pool = ThreadWorkers()
    try:
        assert await pool.run(worker_tasks.add_one, 1, timeout=5) == 2
        with pytest.raises(WorkTimedOut):
            await pool.run(worker_tasks.spin, 0.5, timeout=0.1)
    finally:
        await pool.close()
