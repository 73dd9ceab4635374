"""What a state change does to a job: the one pure rule every store applies, whatever it keeps jobs in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.errors import InvalidTransition
from bridge.ports import ReplyKind
from bridge.states import JobState, check_transition


@dataclass(frozen=True, kw_only=True)
class StateChange:
    """The columns one state change writes and the notice it owes; None means "leave as it is"."""

    state: JobState
    reason: str | None  # recorded in the job's history
    keeps_reason: bool = False  # a claim records no reason and leaves the job's last one standing
    updated: datetime
    due_at: datetime | None = None
    provider_id: str | None = None
    attempts_added: int = 0  # submissions the provider took
    claims_added: int = 0  # times the job was taken to be sent
    submit_started_at: datetime | None = None
    settled: bool | None = None
    reply: ReplyKind


def plan(
    job_id: str,
    current: JobState,
    new: JobState,
    *,
    reason: str | None,
    now: datetime,
    due_at: datetime | None = None,
    provider_id: str | None = None,
    expect: JobState | None = None,
    settle: bool = False,
) -> StateChange:
    """The change `current -> new` makes; raise InvalidTransition when it may not happen.

    `expect` guards against a concurrent change: the job must still be in that state.
    """
    if expect is not None and current is not expect:
        raise InvalidTransition(f"job {job_id} is {current}, not {expect}")
    check_transition(current, new)
    settled: bool | None = None
    if settle:
        settled = True
    elif new is JobState.QUEUED:
        settled = False  # a fax sent again is followed again
    return StateChange(
        state=new,
        reason=reason,
        updated=now,
        due_at=due_at,
        provider_id=provider_id,
        attempts_added=1 if new is JobState.SUBMITTED else 0,
        settled=settled,
        # A job that ended, or that nobody follows further, gets its final report; others an update.
        reply=ReplyKind.REPORT if new.is_final or settle else ReplyKind.UPDATE,
    )


def claim(job_id: str, current: JobState, *, now: datetime, lease_until: datetime) -> StateChange:
    """A queued job taken to be sent: `submitting`, leased until `lease_until` (kept in due_at)."""
    change = plan(job_id, current, JobState.SUBMITTING, reason=None, now=now, due_at=lease_until)
    return StateChange(
        state=change.state,
        reason=None,
        keeps_reason=True,
        updated=now,
        due_at=lease_until,
        claims_added=1,
        submit_started_at=now,
        reply=change.reply,
    )
