"""Judging a request's attachments in the worker pool: one task per file, a time limit per file and per request.

Whatever goes wrong while a file is read (its parser raises, its time runs out, its worker
dies of the memory cap) becomes a verdict that names the reason; the log gets the kind of
failure, never the file's content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bridge.filetypes import inspect_file
from bridge.model import Attachment, Verdict
from bridge.workers import Workers, WorkFailed

log = logging.getLogger("faxbridge.judging")
# A page count takes milliseconds; a file still being read after this is hostile or hopeless.
SECONDS_PER_DOCUMENT = 15.0
SECONDS_PER_REQUEST = 60.0


async def judge(
    workers: Workers,
    attachments: Sequence[Attachment],
    *,
    per_document: float = SECONDS_PER_DOCUMENT,
    per_request: float = SECONDS_PER_REQUEST,
) -> list[Verdict]:
    """A verdict for each attachment, in order; never raises for anything a file can do."""
    if not attachments:
        return []
    tasks = [
        asyncio.ensure_future(workers.run(inspect_file, str(a.content.path), a.name, timeout=per_document))
        for a in attachments
    ]
    try:
        done, pending = await asyncio.wait(tasks, timeout=per_request)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    for task in pending:
        task.cancel()
    verdicts = []
    for index, task in enumerate(tasks, start=1):
        verdict = _verdict(task) if task in done else _late(per_request)
        if verdict.error:
            log.warning("attachment %d of %d refused after %s", index, len(tasks), verdict.error)
        verdicts.append(verdict)
    return verdicts


async def _given(verdict: Verdict) -> Verdict:
    return verdict


def _verdict(task: asyncio.Future[Verdict]) -> Verdict:
    try:
        return task.result()
    except WorkFailed as failed:
        return Verdict(refusal=failed.reason, error=type(failed).__name__)


def _late(per_request: float) -> Verdict:
    return Verdict(
        refusal=f"the attachments took longer than {per_request:g} seconds to read", error="RequestTimedOut"
    )
