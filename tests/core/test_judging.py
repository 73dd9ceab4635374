"""Judging attachments in the worker pool: every failure a refusal that says why, within a time budget."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from bridge.judging import judge
from bridge.model import Verdict
from bridge.testing import attached, sample_pdf
from bridge.workers import ThreadWorkers, WorkCrashed, WorkTimedOut

T = TypeVar("T")


class ScriptedWorkers(ThreadWorkers):
    """Runs the real judgement, except for files whose name says how they should fail."""

    async def run(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        name = str(args[1])
        if name.startswith("slow"):
            await asyncio.sleep(60)
        if name.startswith("bomb"):
            raise WorkCrashed("reading it needs more memory than is allowed")
        if name.startswith("spin"):
            raise WorkTimedOut(f"it took longer than {timeout:g} seconds to read")
        return await super().run(function, *args, timeout=timeout)


async def test_each_attachment_gets_its_own_verdict_in_order() -> None:
    """A good file, a bomb that killed its worker and a runaway parse: one verdict each, in order, with reasons."""
    files = [attached("a.pdf", sample_pdf(2)), attached("bomb.docx", b"PK"), attached("spin.pdf", b"%PDF")]
    verdicts = await judge(ScriptedWorkers(), files, per_document=5)
    assert verdicts[0] == Verdict(content_type="application/pdf", pages=2)
    assert (verdicts[1].refusal, verdicts[1].error) == (
        "reading it needs more memory than is allowed",
        "WorkCrashed",
    )
    assert verdicts[2].refusal == "it took longer than 5 seconds to read"


async def test_the_request_budget_refuses_what_is_still_being_read() -> None:
    """Attachments still being read when the request's time is up are refused saying so; the rest keep theirs."""
    files = [attached("a.pdf", sample_pdf(1)), attached("slow.pdf", b"%PDF")]
    verdicts = await judge(ScriptedWorkers(), files, per_request=0.5)
    assert verdicts[0].faxable
    assert verdicts[1].refusal == "the attachments took longer than 0.5 seconds to read"


async def test_no_attachment_needs_no_worker() -> None:
    """A request without attachments is judged at once."""
    assert await judge(ScriptedWorkers(), []) == []
