"""Job states and the one function that decides which transitions are allowed."""

from __future__ import annotations

from enum import StrEnum

from bridge.errors import InvalidTransition


class JobState(StrEnum):
    """Where a job stands; see docs/architecture.md for the diagram."""

    RECEIVED = "received"
    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def in_flight(self) -> bool:
        """The provider has the fax and we are following its status."""
        return self in (JobState.SUBMITTED, JobState.SENT)


FINAL_STATES = frozenset({JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED})

S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    S.RECEIVED: frozenset({S.QUEUED, S.REJECTED, S.CANCELLED}),
    # failed: a queued job can still fail without a provider call (e.g. its documents are gone).
    S.QUEUED: frozenset({S.SUBMITTING, S.CANCELLED, S.FAILED}),
    # queued again: transient trouble, or reconciliation found the POST never arrived.
    # sent: an operator's `faxbridge resolve --sent` of a submission whose answer was lost.
    S.SUBMITTING: frozenset({S.SUBMITTED, S.SENT, S.QUEUED, S.FAILED}),
    # queued again: a busy line or no answer earns another try later.
    S.SUBMITTED: frozenset({S.SENT, S.DELIVERED, S.FAILED, S.QUEUED}),
    S.SENT: frozenset({S.DELIVERED, S.FAILED, S.QUEUED}),
    S.DELIVERED: frozenset(),
    # queued: an operator's `faxbridge retry` (or `resolve --not-sent`) sends a failed fax again;
    # sent: `faxbridge resolve --sent` of a fax whose fate RingCentral could not tell.
    S.FAILED: frozenset({S.QUEUED, S.SENT}),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}


def check_transition(current: JobState, new: JobState) -> None:
    """Raise InvalidTransition unless `current -> new` is an allowed move."""
    if new not in ALLOWED[current]:
        raise InvalidTransition(f"a {current} job cannot become {new}")
