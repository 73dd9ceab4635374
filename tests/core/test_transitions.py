"""The one rule of a state change: which columns it writes and which notice it owes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.errors import InvalidTransition
from bridge.ports import ReplyKind
from bridge.states import JobState
from bridge.transitions import claim, plan

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_move_on_the_way_owes_an_update_and_changes_only_what_it_names() -> None:
    """submitting -> submitted writes state, reason, provider id, one attempt, an update."""
    step = plan("j1", JobState.SUBMITTING, JobState.SUBMITTED, reason="taken", now=NOW, provider_id="77")
    assert (step.state, step.reason, step.updated, step.provider_id) == (
        JobState.SUBMITTED,
        "taken",
        NOW,
        "77",
    )
    assert (step.attempts_added, step.claims_added, step.due_at, step.settled) == (1, 0, None, None)
    assert step.reply is ReplyKind.UPDATE
    assert not step.keeps_reason


@pytest.mark.parametrize("final", [JobState.DELIVERED, JobState.FAILED])
def test_the_end_owes_a_report(final: JobState) -> None:
    """A job reaching a final state owes its sender the report (mutation: always UPDATE)."""
    assert plan("j1", JobState.SENT, final, reason=None, now=NOW).reply is ReplyKind.REPORT


def test_settling_a_sent_fax_marks_it_and_owes_a_report() -> None:
    """`resolve --sent` settles the job and owes the report although `sent` is not final."""
    step = plan("j1", JobState.FAILED, JobState.SENT, reason="found", now=NOW, settle=True)
    assert (step.settled, step.reply) == (True, ReplyKind.REPORT)


def test_queued_again_is_followed_again_and_due_when_asked() -> None:
    """A fax queued again loses its settled mark and is due when the caller says (mutation: settled kept)."""
    later = NOW + timedelta(minutes=5)
    step = plan("j1", JobState.SENT, JobState.QUEUED, reason="busy", now=NOW, due_at=later)
    assert (step.settled, step.due_at, step.attempts_added) == (False, later, 0)


def test_forbidden_moves_and_stale_expectations_are_refused() -> None:
    """The state machine and `expect` both refuse, before anything is written."""
    with pytest.raises(InvalidTransition):
        plan("j1", JobState.QUEUED, JobState.DELIVERED, reason=None, now=NOW)
    with pytest.raises(InvalidTransition, match="not submitting"):
        plan("j1", JobState.QUEUED, JobState.CANCELLED, reason=None, now=NOW, expect=JobState.SUBMITTING)


def test_a_claim_leases_the_job_and_keeps_its_reason() -> None:
    """A claim is `submitting` with the lease in due_at, one more claim, its start time, and an update."""
    lease = NOW + timedelta(seconds=120)
    step = claim("j1", JobState.QUEUED, now=NOW, lease_until=lease)
    assert (step.state, step.due_at, step.submit_started_at) == (JobState.SUBMITTING, lease, NOW)
    assert (step.claims_added, step.attempts_added, step.keeps_reason) == (1, 0, True)
    assert step.reply is ReplyKind.UPDATE


def test_only_a_queued_job_can_be_claimed() -> None:
    """Claiming a job in any other state is refused by the same state machine."""
    with pytest.raises(InvalidTransition):
        claim("j1", JobState.SUBMITTED, now=NOW, lease_until=NOW)
