"""The one worker loop every background part runs, and the one backoff they all wait by."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from bridge.errors import BridgeError, StoreUnavailable

# After a pass failed in a way nobody foresaw (a bug), and when the next wait cannot be read.
PAUSE_AFTER_BUG = 1.0
# 2**62 seconds is past any cap; the exponent stops there so a long outage never overflows a float.
_MAX_EXPONENT = 62


def backoff(failures: int, *, first: float, most: float) -> float:
    """Seconds to wait after `failures` failures in a row: `first`, doubled for each further one, at most `most`."""
    return min(most, first * 2.0 ** min(max(0, failures - 1), _MAX_EXPONENT))


class WorkerLoop:
    """Runs a part's passes until cancelled: each pass, then a sleep until its next work is due or it is woken.

    No failure stops it: a stopped loop would strand every fax or notice it looks after. Expected
    trouble (the store unavailable, by default) is logged in a line; anything else with its
    traceback, and the loop pauses before trying again. `wait` is given how many passes in a
    row have failed, so a part can back off; `gather` lets a burst of wake-ups collect before
    the next pass, so one pass serves many.
    """

    def __init__(
        self,
        name: str,
        passes: Sequence[Callable[[], Awaitable[object]]],
        *,
        wait: Callable[[int], Awaitable[float]],
        log: logging.Logger,
        expected: tuple[type[BridgeError], ...] = (StoreUnavailable,),
        gather: float = 0.0,
    ) -> None:
        self.name = name
        self.passes = tuple(passes)
        self.wait = wait
        self.log = log
        self.expected = expected
        self.gather = gather
        self.failures = 0  # passes in a row that failed
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """New work may be due: look now rather than at the end of the wait."""
        self._woken.set()

    async def run(self) -> None:
        while True:
            # Cleared before the pass, so a wake-up that comes during it is not lost.
            self._woken.clear()
            failed = False
            for step in self.passes:
                # Each step on its own: trouble in one never keeps the others from running.
                failed = not await self._step(step) or failed
            self.failures = self.failures + 1 if failed else 0
            await self._sleep()

    async def _step(self, step: Callable[[], Awaitable[object]]) -> bool:
        try:
            await step()
        except self.expected as exc:
            self.log.warning("%s: %s (%d in a row); trying again", self.name, exc.reason, self.failures + 1)
            return False
        except Exception:
            self.log.exception("%s pass failed unexpectedly; trying again", self.name)
            await asyncio.sleep(PAUSE_AFTER_BUG)
            return False
        return True

    async def _sleep(self) -> None:
        try:
            seconds = await self.wait(self.failures)
        except Exception as exc:
            # The next due time could not be read (the store is down): look again shortly.
            self.log.warning("%s: cannot tell when work is due (%s)", self.name, type(exc).__name__)
            seconds = PAUSE_AFTER_BUG
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout=max(0.0, seconds))
            # Woken by new work: let a burst of it gather.
            if self.gather:
                await asyncio.sleep(self.gather)
