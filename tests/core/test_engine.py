"""Dispatcher, tracker and reply pump working together over the in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from bridge.dispatch import Dispatcher
from bridge.errors import ProviderPermanent, ProviderTransient, RequestRejected
from bridge.metrics import Metrics
from bridge.model import Channel, Cover, FaxRequest, Job, Origin
from bridge.ports import FailureCause, FaxOutcome
from bridge.replies import ReplyPump
from bridge.retry import RetryPolicy
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.states import JobState
from bridge.testing import FakeProvider, InMemoryJobStore, RecordingReplier, attached, sample_pdf
from bridge.tracking import Tracker
from bridge.workers import ThreadWorkers
from tests.conftest import Clock

T = TypeVar("T")
BUSY = (FaxOutcome.FAILED, FailureCause.LINE_BUSY)
OK = (FaxOutcome.DELIVERED, None)


class CountingWorkers(ThreadWorkers):
    """The in-thread workers, counting how often each function ran."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    async def run(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        self.calls[function.__name__] = self.calls.get(function.__name__, 0) + 1
        return await super().run(function, *args, timeout=timeout)


class Engine:
    """The core's moving parts on fakes, driven step by step."""

    def __init__(self, clock: Clock, **overrides: str) -> None:
        self.clock = clock
        self.store = InMemoryJobStore()
        self.provider = FakeProvider(clock=clock)
        self.replier = RecordingReplier()
        settings = Settings.from_mapping({"retry_delay_seconds": "60", **overrides})
        retry = RetryPolicy(attempts=settings.retry_attempts, delay_seconds=settings.retry_delay_seconds)
        self.metrics = Metrics()
        self.workers = CountingWorkers()
        self.service = FaxService(
            settings, self.store, clock=clock, metrics=self.metrics, workers=self.workers
        )
        self.dispatcher = Dispatcher(
            self.store,
            self.provider,
            documents=self.store,
            clock=clock,
            retry=retry,
            submit_timeout=30,
            workers=self.workers,
        )
        self.tracker = Tracker(
            self.store, self.provider, clock=clock, retry=retry, poll_seconds=1, settle_seconds=3600
        )
        self.pump = ReplyPump(
            self.store,
            {Channel.CLI: self.replier},
            jobs=self.store,
            clock=clock,
            retry_seconds=10,
            metrics=self.metrics,
        )

    async def accept(self, *numbers: str) -> list[str]:
        request = FaxRequest(
            to=numbers,
            origin=Origin(channel=Channel.CLI, sender="ann"),
            attachments=(attached("a.pdf", sample_pdf(2)),),
            cover=Cover(subject="Test"),
        )
        return [job.id for job in (await self.service.accept(request)).jobs]

    async def step(self) -> None:
        await self.dispatcher.run_until_idle()
        await self.tracker.check()
        await self.pump.deliver_due()


@pytest.fixture
def engine(clock: Clock) -> Engine:
    return Engine(clock)


async def test_a_fax_goes_from_queued_to_delivered(engine: Engine) -> None:
    """An accepted fax is submitted once, tracked to delivered, and its sender told at each step."""
    (job_id,) = await engine.accept("+12025550123")
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.DELIVERED
    assert [s.state for s in job.history] == ["received", "queued", "submitting", "submitted", "delivered"]
    assert len(engine.provider.sent) == 1
    _, blobs = engine.provider.sent[0]
    assert blobs[0].startswith(b"%PDF") and len(blobs) == 2  # cover, then the document
    assert engine.replier.kinds(job_id) == ["acknowledge", "report"]


async def test_busy_line_is_retried_then_fails_with_the_reason(engine: Engine) -> None:
    """A line that stays busy is tried 1 + 3 times, 60 s apart, then fails saying 'line busy'."""
    engine.provider.outcomes["+12025550101"] = [BUSY]
    (job_id,) = await engine.accept("+12025550101")
    for _ in range(4):
        await engine.step()
        engine.clock.advance(61)
    job = await engine.store.get(job_id)
    assert job.state is JobState.FAILED
    assert job.reason is not None and job.reason.startswith("line busy")
    assert "tried 4 times" in job.reason
    assert len(engine.provider.sent) == 4


async def test_busy_once_then_delivered(engine: Engine) -> None:
    """A line busy on the first try is delivered on the second."""
    engine.provider.outcomes["+12025550104"] = [BUSY, OK]
    (job_id,) = await engine.accept("+12025550104")
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.QUEUED
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.QUEUED  # not due yet: nothing sent early
    engine.clock.advance(61)
    await engine.step()
    job = await engine.store.get(job_id)
    assert (job.state, job.attempts) == (JobState.DELIVERED, 2)


async def test_cover_is_drawn_when_sent_once_per_job_never_at_intake(engine: Engine) -> None:
    """Accepting a fax to three numbers draws no cover; each job's cover is drawn once, even across a retry."""
    engine.provider.outcomes["+12025550104"] = [BUSY, OK]
    ids = await engine.accept("+12025550104", "+12025550123", "+12025550188")
    assert engine.workers.calls.get("render_sheet", 0) == 0
    assert engine.workers.calls["inspect_file"] == 1  # the shared document is judged once
    await engine.step()
    engine.clock.advance(61)
    await engine.step()
    assert engine.workers.calls["render_sheet"] == 3
    sent_covers = [blobs[0] for fax, blobs in engine.provider.sent if fax.to == "+12025550104"]
    assert len(sent_covers) == 2 and sent_covers[0] == sent_covers[1] and sent_covers[0].startswith(b"%PDF")
    assert [(await engine.store.get(i)).state for i in ids] == [JobState.DELIVERED] * 3


async def test_no_fax_machine_is_not_retried(engine: Engine) -> None:
    """A number that is not a fax machine fails at once, without a retry."""
    engine.provider.outcomes["+12025550103"] = [(FaxOutcome.FAILED, FailureCause.NO_FAX_MACHINE)]
    (job_id,) = await engine.accept("+12025550103")
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.FAILED
    assert len(engine.provider.sent) == 1


async def test_permanent_refusal_fails_with_the_providers_reason(engine: Engine) -> None:
    """A permanent provider error fails the job with its plain-words reason."""
    engine.provider.fail_next = [
        ProviderPermanent("RingCentral does not accept this file type", code="MSG-348")
    ]
    (job_id,) = await engine.accept("+12025550123")
    await engine.step()
    job = await engine.store.get(job_id)
    assert (job.state, job.reason) == (JobState.FAILED, "RingCentral does not accept this file type")


async def test_transient_error_requeues_with_backoff_and_respects_retry_after(engine: Engine) -> None:
    """A 429-like error queues the job again, due no sooner than Retry-After."""
    engine.provider.fail_next = [ProviderTransient("rate limited", retry_after=90)]
    (job_id,) = await engine.accept("+12025550123")
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.QUEUED
    assert job.due_at == engine.clock() + timedelta(seconds=90)
    engine.clock.advance(91)
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.DELIVERED


async def test_lost_answer_is_reconciled_not_resent(engine: Engine) -> None:
    """When the POST's answer is lost, the provider is asked before anything is sent again."""
    engine.provider.lose_answer_next = True
    (job_id,) = await engine.accept("+12025550123")
    await engine.dispatcher.run_until_idle()
    assert (await engine.store.get(job_id)).state is JobState.SUBMITTING
    engine.clock.advance(10)
    await engine.step()
    # Not asked yet: the provider may still be taking in a large upload.
    assert (await engine.store.get(job_id)).state is JobState.SUBMITTING
    engine.clock.advance(21)
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.DELIVERED
    assert len(engine.provider.sent) == 1


async def test_stale_submission_that_never_arrived_is_sent_again(engine: Engine) -> None:
    """A job left submitting by a crash, unknown to the provider, is queued and sent once."""
    (job_id,) = await engine.accept("+12025550123")
    await engine.store.claim_due(engine.clock(), lease_until=engine.clock())  # the crashed process's claim
    engine.clock.advance(1)
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.DELIVERED
    assert "never reached RingCentral" in (job.history[3].reason or "")
    assert len(engine.provider.sent) == 1


async def test_reply_failures_are_retried_until_delivered(engine: Engine) -> None:
    """A channel that is down gets the notice later, once, instead of losing it."""
    engine.replier.failures = 2
    (job_id,) = await engine.accept("+12025550123")
    await engine.pump.deliver_due()
    await engine.pump.deliver_due()
    assert engine.replier.kinds(job_id) == []
    engine.clock.advance(10)
    await engine.pump.deliver_due()
    assert engine.replier.kinds(job_id) == []
    engine.clock.advance(20)
    await engine.pump.deliver_due()
    assert engine.replier.kinds(job_id) == ["acknowledge"]
    await engine.pump.deliver_due()
    assert engine.replier.kinds(job_id) == ["acknowledge"]


async def test_burst_of_updates_is_one_call(engine: Engine) -> None:
    """Several state changes waiting together reach the replier as one update with the newest state."""
    (job_id,) = await engine.accept("+12025550123")
    await engine.pump.deliver_due()
    await engine.dispatcher.run_until_idle()  # submitting, submitted
    await engine.pump.deliver_due()
    calls = [(kind, job.state) for kind, job in engine.replier.calls if job.id == job_id]
    assert calls == [("acknowledge", JobState.QUEUED), ("update", JobState.SUBMITTED)]


async def test_cancel_only_before_sending(engine: Engine) -> None:
    """A queued job can be cancelled and is never sent; a submitted one cannot be cancelled."""
    first, second = await engine.accept("+12025550123", "+12025550188")
    await engine.service.cancel(first, by="ann")
    await engine.dispatcher.run_until_idle()
    assert (await engine.store.get(first)).state is JobState.CANCELLED
    assert [fax.to for fax, _ in engine.provider.sent] == ["+12025550188"]
    with pytest.raises(RequestRejected, match="can no longer be cancelled"):
        await engine.service.cancel(second)


async def test_operator_retry_sends_a_failed_job_again(engine: Engine) -> None:
    """`retry` queues a failed job now, and it is sent again."""
    engine.provider.outcomes["+12025550103"] = [(FaxOutcome.FAILED, FailureCause.NO_FAX_MACHINE), OK]
    (job_id,) = await engine.accept("+12025550103")
    await engine.step()
    await engine.service.retry(job_id)
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.DELIVERED


async def test_refused_number_is_recorded_as_rejected(engine: Engine) -> None:
    """A premium-rate number is refused with the reason, and the refusal is on record."""
    with pytest.raises(RequestRejected, match="premium-rate"):
        await engine.accept("+19005550123")
    (job,) = await engine.store.list_jobs()
    assert job.state is JobState.REJECTED
    assert "premium-rate" in (job.reason or "")


async def test_sent_without_confirmation_settles_after_a_while(engine: Engine) -> None:
    """A fax the provider reports as sent but never confirms is reported as sent, then no longer polled."""
    engine.provider.outcomes["+12025550123"] = [(FaxOutcome.SENT, None)]
    (job_id,) = await engine.accept("+12025550123")
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.SENT
    engine.clock.advance(3601)
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.settled
    assert await engine.store.in_flight() == []
    assert engine.replier.kinds(job_id)[-1] == "report"


async def test_concurrent_reconciliation_settles_a_job_once(engine: Engine) -> None:
    """Two reconciliation passes at once (start-up and the worker) settle a lost answer once, without error."""
    import asyncio

    engine.provider.lose_answer_next = True
    (job_id,) = await engine.accept("+12025550123")
    await engine.dispatcher.run_until_idle()
    engine.clock.advance(31)
    await asyncio.gather(engine.dispatcher.reconcile(), engine.dispatcher.reconcile())
    job = await engine.store.get(job_id)
    assert job.state is JobState.SUBMITTED
    assert [h.state for h in job.history].count(JobState.SUBMITTED) == 1


async def test_provider_trouble_pauses_all_sending(engine: Engine) -> None:
    """After transient provider errors no further job is tried until the backoff ends, then the queue moves."""
    engine.provider.fail_next = [ProviderTransient("RingCentral is temporarily unavailable")]
    ids = await engine.accept(*(f"+120255501{n}" for n in range(20, 28)))
    await engine.dispatcher.run_until_idle()
    # The first submission fails; the other seven are not even tried.
    assert sum(row.claims for row in engine.store.rows.values()) == 1
    assert engine.provider.sent == []
    await engine.dispatcher.run_until_idle()
    assert sum(row.claims for row in engine.store.rows.values()) == 1
    engine.clock.advance(6)
    await engine.step()
    assert [(await engine.store.get(i)).state for i in ids] == [JobState.DELIVERED] * 8


async def test_a_failed_report_does_not_send_the_receipt_again(engine: Engine) -> None:
    """When the report fails after the receipt went out, only the report is tried again."""

    class ReportFailsOnce(RecordingReplier):
        async def report(self, job: Job) -> None:
            if not getattr(self, "failed_once", False):
                self.failed_once = True
                raise ConnectionError("relay hiccup")
            await super().report(job)

    replier = ReportFailsOnce()
    engine.pump.repliers = {Channel.CLI: replier}
    (job_id,) = await engine.accept("+12025550123")
    await engine.dispatcher.run_until_idle()
    await engine.tracker.check()
    await engine.pump.deliver_due()
    engine.clock.advance(60)
    await engine.pump.deliver_due()
    assert replier.kinds(job_id) == ["acknowledge", "report"]
    assert engine.pump.metrics.replies.labels(channel="cli", outcome="failed")._value.get() == 1


async def test_refused_login_keeps_the_queue_waiting(engine: Engine) -> None:
    """A login the provider refuses fails no fax: jobs stay queued and sending pauses until it works."""
    engine.provider.fail_next = [
        ProviderPermanent("the JWT credential is not valid", code="OAU-140", account=True)
    ]
    first, second = await engine.accept("+12025550123", "+12025550188")
    await engine.dispatcher.run_until_idle()
    assert [(await engine.store.get(i)).state for i in (first, second)] == [JobState.QUEUED, JobState.QUEUED]
    assert "credentials" in ((await engine.store.get(first)).reason or "")
    engine.clock.advance(301)
    await engine.step()
    assert [(await engine.store.get(i)).state for i in (first, second)] == [JobState.DELIVERED] * 2


async def test_missing_document_bytes_fail_the_job_with_a_reason(engine: Engine) -> None:
    """If a document's bytes are gone (a partial restore), the job fails saying so instead of looping."""
    (job_id,) = await engine.accept("+12025550123")
    engine.store.blobs.clear()
    await engine.dispatcher.run_until_idle()
    job = await engine.store.get(job_id)
    assert job.state is JobState.FAILED
    assert "no longer kept" in (job.reason or "")
