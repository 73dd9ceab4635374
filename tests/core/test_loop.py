"""The one worker loop and the one backoff every background part uses."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge import loop as loop_module
from bridge.errors import ProviderTransient, StoreUnavailable
from bridge.loop import WorkerLoop, backoff

log = logging.getLogger("test.loop")


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    """1, 2, 4, 8 … times the first wait, never past the cap; no failure yet waits the first wait."""
    assert [backoff(n, first=5.0, most=300.0) for n in range(9)] == [5, 5, 10, 20, 40, 80, 160, 300, 300]


def test_backoff_of_a_very_long_outage_stays_at_the_cap() -> None:
    """A million failures in a row still give the cap (mutation: an unbounded exponent overflows a float)."""
    assert backoff(1_000_000, first=30.0, most=3600.0) == 3600.0


class Script:
    """Passes that fail as told, counting calls, and stop the test when they have run enough."""

    def __init__(self, failures: list[Exception | None], done: asyncio.Event) -> None:
        self.failures = failures
        self.calls = 0
        self.done = done

    async def __call__(self) -> None:
        self.calls += 1
        if not self.failures:
            self.done.set()
            await asyncio.Event().wait()  # park until the test cancels the loop
        failure = self.failures.pop(0)
        if failure is not None:
            raise failure


async def _run_until(worker: WorkerLoop, done: asyncio.Event) -> None:
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_no_failure_stops_the_loop_and_waits_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expected trouble and bugs alike are survived; `wait` sees the failures in a row, reset by a success.

    Mutation caught: a loop that lets an exception end it (a stranded queue), or never resets the count.
    """
    monkeypatch.setattr(loop_module, "PAUSE_AFTER_BUG", 0.0)
    done = asyncio.Event()
    script = Script([StoreUnavailable("disk full"), RuntimeError("a bug"), None, StoreUnavailable()], done)
    seen: list[int] = []

    async def wait(failures: int) -> float:
        seen.append(failures)
        return 0.0

    await _run_until(WorkerLoop("test", (script,), wait=wait, log=log), done)
    assert seen == [1, 2, 0, 1]
    assert script.calls == 5


async def test_each_step_runs_even_when_the_one_before_failed() -> None:
    """Trouble in one step (settling a submission) never keeps the next (sending) from running."""
    done = asyncio.Event()
    first = Script([ProviderTransient("down")] * 3, asyncio.Event())
    second = Script([None, None], done)

    async def wait(_: int) -> float:
        return 0.0

    worker = WorkerLoop("test", (first, second), wait=wait, log=log, expected=(ProviderTransient,))
    await _run_until(worker, done)
    assert second.calls == 3


async def test_a_wake_during_a_pass_is_not_lost() -> None:
    """Woken while working, the loop passes again at once instead of sleeping out its wait."""
    done = asyncio.Event()
    calls = 0
    worker: WorkerLoop

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            worker.wake()  # new work arrives while this pass runs
        else:
            done.set()
            await asyncio.Event().wait()

    async def wait(_: int) -> float:
        return 3600.0

    worker = WorkerLoop("test", (step,), wait=wait, log=log)
    await _run_until(worker, done)
    assert calls == 2


async def test_a_wait_that_cannot_be_read_is_survived(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the next due time cannot be read (the store is down), the loop looks again shortly."""
    monkeypatch.setattr(loop_module, "PAUSE_AFTER_BUG", 0.0)
    done = asyncio.Event()
    script = Script([None, None], done)

    async def broken(_: int) -> float:
        raise StoreUnavailable("locked")

    await _run_until(WorkerLoop("test", (script,), wait=broken, log=log), done)
    assert script.calls == 3
