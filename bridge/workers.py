"""Where untrusted bytes are parsed: worker processes with a time limit per task and a memory cap.

A document or mail parser that runs away (a zip bomb, a page tree of a million leaves, a mail
of fifty thousand parts) is stopped when its task's time is up or its address space is full;
its worker is replaced and the pool keeps serving. The event loop only waits on a future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import resource
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from bridge.logs import LogConfig, configure, current_config

log = logging.getLogger("faxbridge.workers")
T = TypeVar("T")

DEFAULT_WORKERS = 2
# Each worker's address space: room for the interpreter and its libraries (about 150 MB) and one
# hostile document's worth of work; an allocation past it fails inside the worker, not the server.
DEFAULT_MEMORY_BYTES = 768 * 1024 * 1024
# A worker is replaced after this many tasks, so nothing a parser leaks accumulates.
TASKS_PER_WORKER = 500


class WorkFailed(Exception):
    """A task ended without an answer: its time ran out, or its worker died."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkTimedOut(WorkFailed):
    """The task took longer than its time limit and was stopped."""


class WorkCrashed(WorkFailed):
    """The worker died while running the task (out of memory, a crash in a C library)."""


class Workers(Protocol):
    """Runs a module-level function on untrusted input, off the event loop, within a time limit."""

    async def run(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        """The function's result; its own exceptions pass through; WorkFailed when it had no answer."""
        ...

    async def close(self) -> None: ...


def _start_worker(memory_bytes: int, logging_config: LogConfig | None) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # A forkserver worker starts with no logging set up: without this its libraries' warnings
    # (pypdf on a malformed PDF) would reach stderr bare, and its own lines would lose their format.
    configure(logging_config or LogConfig(level=logging.WARNING))


class ProcessWorkers:
    """A pebble ProcessPool of forkserver workers, each capped in address space, started on first use."""

    def __init__(
        self,
        *,
        size: int = DEFAULT_WORKERS,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        preload: Sequence[str] = (),
    ) -> None:
        self.size = size
        self.memory_bytes = memory_bytes
        self.preload = list(preload)
        self._pool: Any = None

    def _started(self) -> Any:
        if self._pool is None:
            from pebble import ProcessPool

            # forkserver: workers are forked from a clean single-threaded server, never from this
            # process with its threads; the preloaded modules are imported there once.
            context = multiprocessing.get_context("forkserver")
            if self.preload:
                context.set_forkserver_preload(self.preload)
            self._pool = ProcessPool(
                max_workers=self.size,
                max_tasks=TASKS_PER_WORKER,
                initializer=_start_worker,
                initargs=(self.memory_bytes, current_config()),
                context=context,
            )
        return self._pool

    async def run(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        from pebble import ProcessExpired

        pool = self._started()
        try:
            future = pool.schedule(function, args=args, timeout=timeout)
            result: T = await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError as exc:
            raise WorkTimedOut(f"it took longer than {timeout:g} seconds to read") from exc
        except MemoryError as exc:
            raise WorkCrashed("it needs too much memory to read") from exc
        except ProcessExpired as exc:
            # This task's own worker died under it: the input did that (the memory cap, a C crash).
            log.warning("a worker died while reading untrusted input (exit code %s)", exc.exitcode)
            raise WorkCrashed("reading it needs more memory than is allowed") from exc
        except (concurrent.futures.process.BrokenProcessPool, RuntimeError) as exc:
            # The pool itself broke (not this input's doing): start a fresh one and let the caller
            # answer "try again later".
            if pool is self._pool and not pool.active:
                log.error("the worker pool stopped (%s); starting a new one", type(exc).__name__)
                self._pool = None
                pool.stop()
            raise
        return result

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            await asyncio.to_thread(pool.join, 10)


class ThreadWorkers:
    """The same contract in threads of this process: no memory cap, and a late task cannot be stopped.

    For tests of the core with in-memory fakes, where a process per test would only add time.
    """

    def __init__(self, size: int = DEFAULT_WORKERS) -> None:
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="faxbridge-parse")

    async def run(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, function, *args), timeout)
        except TimeoutError as exc:
            raise WorkTimedOut(f"it took longer than {timeout:g} seconds to read") from exc
        except MemoryError as exc:
            raise WorkCrashed("it needs too much memory to read") from exc

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
