"""Exact reconciliation over the fakes: which fax a lost answer may adopt, and what happens when nobody can tell."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.errors import ProviderPermanent, RequestRejected
from bridge.ports import FailureCause, FaxOutcome
from bridge.states import JobState
from bridge.wording import UNKNOWN_FATE
from tests.conftest import Clock
from tests.core.test_engine import OK, Engine

NUMBER = "+12025550123"
OTHER = "+12025550188"
PAGES = 3  # the generated cover and the two-page document of Engine.accept
BUSY = (FaxOutcome.FAILED, FailureCause.LINE_BUSY)
DAY = 86400


@pytest.fixture
def engine(clock: Clock) -> Engine:
    return Engine(clock)


async def _crash_before_the_post(engine: Engine) -> None:
    """A claim whose process died before the POST: the job is left `submitting`, the provider has nothing."""
    claimed = await engine.store.claim_due(engine.clock(), lease_until=engine.clock())
    assert claimed is not None


async def _lose_the_answer(engine: Engine, number: str = NUMBER) -> str:
    """Queue a fax whose POST reaches the provider but whose answer never comes back."""
    engine.provider.lose_answer_next = True
    (job_id,) = await engine.accept(number)
    await engine.dispatcher.run_until_idle()
    assert (await engine.store.get(job_id)).state is JobState.SUBMITTING
    return job_id


async def test_a_fax_another_job_owns_is_never_adopted(engine: Engine) -> None:
    """A lost submission never takes a fax another job holds, even one inside its window.

    Mutation caught: reconciliation adopting the first fax found without asking the store whether
    some job owns it.
    """
    (first,) = await engine.accept(NUMBER)
    await engine.dispatcher.run_until_idle()
    (owned,) = engine.provider.statuses
    (second,) = await engine.accept(NUMBER)
    await _crash_before_the_post(engine)
    await engine.dispatcher.reconcile()
    job = await engine.store.get(second)
    assert job.state is JobState.QUEUED
    assert "never reached RingCentral" in (job.reason or "")
    await engine.step()
    assert (await engine.store.get(second)).provider_id != owned
    assert (await engine.store.get(first)).provider_id == owned
    assert len(engine.provider.sent) == 2


async def test_a_fax_of_the_jobs_own_earlier_attempt_is_never_adopted(clock: Clock) -> None:
    """After a retry overwrote the job's provider id, its first attempt's fax is still never adopted.

    Mutation caught: asking only whether a job's current provider id is the fax (not every attempt's).
    """
    engine = Engine(clock, retry_delay_seconds="0")
    engine.provider.outcomes[NUMBER] = [BUSY, BUSY, OK]
    (job_id,) = await engine.accept(NUMBER)
    for _ in range(2):  # two busy attempts, each with its own provider id
        await engine.dispatcher.run_until_idle()
        await engine.tracker.check()
    first, second = engine.provider.statuses
    assert (await engine.store.get(job_id)).provider_id == second
    await _crash_before_the_post(engine)
    await engine.dispatcher.reconcile()
    job = await engine.store.get(job_id)
    assert job.state is JobState.QUEUED
    assert job.provider_id == second
    assert await engine.store.provider_id_taken(first)


async def test_a_colleagues_fax_sent_before_this_attempt_is_not_adopted(engine: Engine) -> None:
    """A fax to the same number from the RingCentral app, 100 s before this attempt's POST, is not ours.

    Mutation caught: the search window starting minutes before the attempt (the old 120 s margin).
    """
    engine.provider.foreign(NUMBER, pages=PAGES, created=engine.clock() - timedelta(seconds=100))
    (job_id,) = await engine.accept(NUMBER)
    await _crash_before_the_post(engine)
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.DELIVERED
    assert [h.state for h in job.history].count(JobState.SUBMITTING) == 2
    assert len(engine.provider.sent) == 1


async def test_a_fax_with_another_page_count_is_not_adopted(engine: Engine) -> None:
    """A colleague's fax to the same number during this attempt, with another page count, is not ours.

    Mutation caught: matching on number and time alone, ignoring the page count.
    """
    (job_id,) = await engine.accept(NUMBER)
    await _crash_before_the_post(engine)
    colleague = engine.provider.foreign(NUMBER, pages=PAGES + 4)
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.DELIVERED
    assert job.provider_id != colleague
    assert len(engine.provider.sent) == 1


async def test_a_fax_not_yet_counted_is_adopted_when_it_is_the_only_one(engine: Engine) -> None:
    """RingCentral counts pages only after rendering: a single matching fax with no count yet is ours."""
    (job_id,) = await engine.accept(NUMBER)
    await _crash_before_the_post(engine)
    ours = engine.provider.foreign(NUMBER, pages=0)
    await engine.dispatcher.reconcile()
    job = await engine.store.get(job_id)
    assert job.state is JobState.SUBMITTED
    assert job.provider_id == ours
    assert engine.provider.sent == []


async def test_two_faxes_that_could_be_ours_are_not_guessed(engine: Engine) -> None:
    """Two faxes that both fit leave the job waiting, nothing resent; a day later it fails as unknown."""
    job_id = await _lose_the_answer(engine)
    engine.provider.foreign(NUMBER, pages=PAGES)
    engine.clock.advance(31)
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.SUBMITTING
    assert len(engine.provider.sent) == 1
    engine.clock.advance(DAY)
    await engine.step()
    job = await engine.store.get(job_id)
    assert job.state is JobState.FAILED
    assert job.reason == UNKNOWN_FATE
    assert len(engine.provider.sent) == 1
    assert engine.replier.kinds(job_id)[-1] == "report"


async def test_an_unreadable_message_store_never_means_not_sent(engine: Engine) -> None:
    """Without ReadMessages the lost fax is not resent; other numbers go on; a day later it fails, freeing its number.

    Mutations caught: treating a listing that cannot be read as "not sent" (the fax goes out twice),
    and extending the lease forever (the job and every fax to its number wait for ever).
    """
    engine.provider.listing_error = ProviderPermanent("[ReadMessages] permission required", code="CMN-401")
    job_id = await _lose_the_answer(engine)
    engine.clock.advance(31)
    await engine.step()
    (other,) = await engine.accept(OTHER)
    (behind,) = await engine.accept(NUMBER)
    for _ in range(3):
        engine.clock.advance(300)
        await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.SUBMITTING
    assert (await engine.store.get(other)).state is JobState.DELIVERED
    assert (await engine.store.get(behind)).state is JobState.QUEUED  # one open submission per number
    assert [fax.to for fax, _ in engine.provider.sent] == [NUMBER, OTHER]

    engine.clock.advance(DAY)
    await engine.step()
    await engine.step()
    job = await engine.store.get(job_id)
    assert (job.state, job.reason) == (JobState.FAILED, UNKNOWN_FATE)
    reported = [j for kind, j in engine.replier.calls if kind == "report" and j.id == job_id]
    assert reported and reported[-1].reason == UNKNOWN_FATE
    assert (await engine.store.get(behind)).state is JobState.DELIVERED


async def test_an_unexpected_error_while_reconciling_never_stalls_the_queue(engine: Engine) -> None:
    """A bug in reading the message store keeps that one job waiting; faxes to other numbers still go."""
    engine.provider.listing_error = RuntimeError("a bug in the listing")
    job_id = await _lose_the_answer(engine)
    engine.clock.advance(31)
    (other,) = await engine.accept(OTHER)
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.SUBMITTING
    assert (await engine.store.get(other)).state is JobState.DELIVERED


async def _unknown(engine: Engine) -> str:
    engine.provider.listing_error = ProviderPermanent("[ReadMessages] permission required")
    job_id = await _lose_the_answer(engine)
    engine.clock.advance(DAY + 31)
    await engine.step()
    assert (await engine.store.get(job_id)).reason == UNKNOWN_FATE
    engine.provider.listing_error = None
    return job_id


async def test_resolve_sent_ends_the_job_as_sent_and_tells_the_sender(engine: Engine) -> None:
    """`resolve --sent` on a fax whose fate was unknown makes it sent, followed no further, with a new report."""
    job_id = await _unknown(engine)
    reports = engine.replier.kinds(job_id).count("report")
    job = await engine.service.resolve(job_id, sent=True, by="ops")
    assert (job.state, job.settled) == (JobState.SENT, True)
    assert "ops found at RingCentral that it was sent" in (job.reason or "")
    await engine.step()
    assert engine.replier.kinds(job_id).count("report") == reports + 1
    assert await engine.store.in_flight() == []
    assert len(engine.provider.sent) == 1


async def test_resolve_not_sent_sends_it_again_once(engine: Engine) -> None:
    """`resolve --not-sent` on a fax whose fate was unknown queues it, and it is sent once more."""
    job_id = await _unknown(engine)
    job = await engine.service.resolve(job_id, sent=False, by="ops")
    assert job.state is JobState.QUEUED
    await engine.step()
    assert (await engine.store.get(job_id)).state is JobState.DELIVERED
    assert len(engine.provider.sent) == 2


async def test_resolve_settles_a_job_stuck_submitting(engine: Engine) -> None:
    """A job still `submitting` well after its POST began can be resolved without waiting a day."""
    engine.provider.listing_error = ProviderPermanent("[ReadMessages] permission required")
    job_id = await _lose_the_answer(engine)
    engine.clock.advance(121)
    await engine.step()
    job = await engine.service.resolve(job_id, sent=True, by="ops")
    assert (job.state, job.settled) == (JobState.SENT, True)


async def test_resolve_refuses_jobs_whose_fate_is_known(engine: Engine) -> None:
    """A submission still under way, a delivered fax and a fax failed for a known reason cannot be resolved."""
    under_way = await _lose_the_answer(engine)
    (delivered,) = await engine.accept(OTHER)
    engine.provider.outcomes["+12025550103"] = [(FaxOutcome.FAILED, FailureCause.NO_FAX_MACHINE)]
    (refused,) = await engine.accept("+12025550103")
    await engine.step()
    assert (await engine.store.get(refused)).state is JobState.FAILED
    for job_id in (under_way, delivered, refused):
        with pytest.raises(RequestRejected, match="can be resolved"):
            await engine.service.resolve(job_id, sent=True)
