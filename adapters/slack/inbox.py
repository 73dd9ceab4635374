"""The Slack inbox: every request is stored before Slack is answered, then finished exactly once by a worker.

A listener admits the request (with its one-time keys, so Slack's retries are recognised)
and only then lets bolt answer Slack. The worker takes each stored request, does its work
(`Faxing.handle`), keeps the answer for the person, tells it, and marks the request
finished. A crash or a shutdown at any point leaves the request unfinished, and the next
start does it again: its fax is found by its idempotency key, so it is never made twice.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from datetime import timedelta
from typing import Any

from adapters.slack.faxing import Faxing, Request
from adapters.slack.gate import cannot_check
from adapters.slack.messages import SlackUnreachable
from bridge.clock import Clock
from bridge.errors import StoreUnavailable
from bridge.loop import WorkerLoop, backoff
from bridge.model import Channel
from bridge.ports import InboxItem, RequestInbox

log = logging.getLogger("faxbridge.slack.inbox")
MAX_ATTEMPTS = 5  # a request begun this often (each start that died on it) is answered instead of tried again
MAX_RUNNING = 20  # requests worked on at once (downloads have their own, smaller cap)
WAIT_FOR_SLACK = timedelta(days=1)  # how long a request waits for an unreachable Slack before it ends
PURGE_EVERY = 3600.0
MAX_WAIT_FOR_SLACK = 600.0  # the longest a request waits between tries at an unreachable Slack
GAVE_UP = (
    "faxbridge tried {attempts} times and could not finish your request, so nothing was sent. "
    "Please try again, or send the files as PDF."
)


class SlackInbox:
    """Admits Slack requests into the store and runs the worker that finishes them."""

    def __init__(
        self,
        *,
        inbox: RequestInbox,
        faxing: Faxing,
        clock: Clock,
        retention: timedelta,
        retry_seconds: float = 30.0,
        sweep_seconds: float = 5.0,
    ) -> None:
        self.inbox = inbox
        self.faxing = faxing
        self.clock = clock
        self.retention = retention
        self.retry_seconds = retry_seconds
        self.sweep_seconds = sweep_seconds
        self._running: dict[int, asyncio.Task[None]] = {}
        self._ended: set[int] = set()  # requests whose work ended since the current sweep began
        self._held: dict[int, float] = {}  # request -> monotonic time before which it is left alone
        self._tries: dict[int, int] = {}  # answers Slack would not take, per request, in this process
        self._sweeping = asyncio.Lock()
        self._worker = WorkerLoop("Slack inbox", (self._sweep, self._purge), wait=self._pause, log=log)
        self._loop: asyncio.Task[None] | None = None
        self._purged_at = float("-inf")

    async def admit(self, keys: list[str], request: dict[str, Any]) -> bool:
        """Store a request, committed; False when one of its keys was seen before. Raises StoreUnavailable."""
        payload = json.dumps(request, separators=(",", ":"))
        now = self.clock()
        stored = await self.inbox.admit(channel=Channel.SLACK, keys=keys, payload=payload, now=now)
        if stored is None:
            log.info("Slack request %s seen before; nothing new is done", keys[0])
            return False
        if self._loop is not None:
            # Begun at once, without waiting for the worker to read it back from the store.
            self._start(
                InboxItem(
                    id=stored, channel=Channel.SLACK, payload=payload, received=now, attempts=0, answer=None
                )
            )
        return True

    def start(self) -> None:
        """Start the worker; it first finishes whatever an earlier run left unfinished."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._worker.run(), name="slack-inbox")

    async def close(self) -> None:
        """Stop working. Unfinished requests stay stored and are done on the next start."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def drain(self) -> None:
        """Work until no stored request is due (those waiting for a retry excepted)."""
        while True:
            try:
                await self._sweep()
            except StoreUnavailable:
                return  # nothing can be done until the store answers again
            if not self._running:
                return
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def _pause(self, _failures: int) -> float:
        return self.sweep_seconds

    async def _sweep(self) -> None:
        """Start work on every due request that is not under way; one sweep at a time."""
        async with self._sweeping:
            # A request that ends while `due` reads may still be listed; `_ended` remembers it.
            self._ended.clear()
            items = await self.inbox.due(Channel.SLACK, self.clock(), limit=MAX_RUNNING)
            for item in items:
                if item.id not in self._ended:
                    self._start(item)

    def _start(self, item: InboxItem) -> None:
        """Work on a request unless it is under way, waiting for a retry, or too many are running."""
        busy = len(self._running) >= MAX_RUNNING
        if busy or item.id in self._running or self._held.get(item.id, 0) > time.monotonic():
            return
        task = asyncio.create_task(self._work(item), name=f"slack-request-{item.id}")
        self._running[item.id] = task
        task.add_done_callback(functools.partial(self._ended_work, item.id))

    def _ended_work(self, item_id: int, _: asyncio.Task[None]) -> None:
        self._running.pop(item_id, None)
        self._ended.add(item_id)
        self._worker.wake()

    async def _work(self, item: InboxItem) -> None:
        try:
            await self._finish(item)
        except StoreUnavailable as exc:
            # Nothing could be recorded; the request stays stored and is tried again shortly.
            log.warning("Slack request %d waits: the store is unavailable (%s)", item.id, exc.reason)
            self._hold(item.id, self.retry_seconds)
        except Exception as exc:
            # Telling or recording failed in a way nobody foresaw: try again later, never in a tight loop.
            log.error("Slack request %d could not be finished: %s", item.id, type(exc).__name__)
            self._hold(item.id, self.retry_seconds)

    async def _finish(self, item: InboxItem) -> None:
        request = _read(item.payload)
        if request is None:
            log.error("Slack request %d cannot be read; it is dropped", item.id)
            await self.inbox.finish(item.id, now=self.clock())
            return
        answer = item.answer
        if answer is None:
            try:
                answer = await self._decide(item, request)
            except SlackUnreachable as exc:
                log.warning("Slack request %d waits for Slack: %s", item.id, exc)
                if await self._later(item):
                    return
                answer = cannot_check("Slack could not be reached")
                await self.inbox.decide(item.id, answer)
        if answer and not await self._tell(request, answer):
            if await self._later(item):
                return
            log.warning("Slack request %d: its answer could not be given for a day; giving up", item.id)
        self._tries.pop(item.id, None)
        self._held.pop(item.id, None)
        await self.inbox.finish(item.id, now=self.clock())

    async def _later(self, item: InboxItem) -> bool:
        """Leave a request for a while, waiting longer each time; False once it is too old to wait for."""
        if self.clock() - item.received >= WAIT_FOR_SLACK:
            return False
        tries = self._tries[item.id] = self._tries.get(item.id, 0) + 1
        wait = backoff(tries, first=self.retry_seconds, most=MAX_WAIT_FOR_SLACK)
        await self.inbox.postpone(item.id, self.clock() + timedelta(seconds=wait))
        return True

    async def _decide(self, item: InboxItem, request: Request) -> str | None:
        """Do the request's work once more; keep the answer so a restart only has to tell it.

        Raises SlackUnreachable, before counting an attempt, when who asks cannot be checked now.
        """
        refusal = await self.faxing.refusal(request)
        if refusal:
            await self.inbox.decide(item.id, refusal)
            return refusal
        attempts = await self.inbox.begin(item.id)
        if attempts > MAX_ATTEMPTS:
            log.error(
                "Slack request %d stopped the process %d times; answering instead", item.id, attempts - 1
            )
            answer: str | None = GAVE_UP.format(attempts=attempts - 1)
        else:
            try:
                answer = await self.faxing.handle(request, again=attempts > 1)
            except StoreUnavailable:
                raise
            except Exception as exc:
                # The boundary: whatever the core or a download raised becomes an answer, never silence.
                log.error("Slack request %d failed: %s", item.id, type(exc).__name__)
                log.debug("Slack request %d failed", item.id, exc_info=True)
                answer = self.faxing.unexpected(request, exc)
        if answer:
            await self.inbox.decide(item.id, answer)
        return answer

    async def _tell(self, request: Request, answer: str) -> bool:
        where = {k: str(v) for k, v in request["where"].items()}
        return await self.faxing.poster.tell(where, answer, private=bool(request.get("private")))

    def _hold(self, item_id: int, seconds: float) -> None:
        self._held[item_id] = time.monotonic() + seconds

    async def _purge(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = time.monotonic()
        purged = await self.inbox.purge_finished(self.clock() - self.retention)
        if purged:
            log.info("Slack inbox: forgot %d finished requests", purged)


def _read(payload: str) -> Request | None:
    """A stored request, if it is one: every request says whom to answer."""
    try:
        request = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("where"), dict):
        return None
    return request if request["where"].get("user") and request["where"].get("channel") else None
