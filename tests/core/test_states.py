"""The job state machine."""

from __future__ import annotations

import itertools

import pytest

from bridge.errors import InvalidTransition
from bridge.states import ALLOWED, FINAL_STATES, JobState, check_transition

HAPPY_PATH = ["received", "queued", "submitting", "submitted", "sent", "delivered"]


def test_happy_path_is_allowed() -> None:
    """Every step of received → … → delivered is an allowed transition."""
    for current, new in itertools.pairwise(HAPPY_PATH):
        check_transition(JobState(current), JobState(new))


@pytest.mark.parametrize("final", sorted(FINAL_STATES - {JobState.FAILED}))
def test_final_states_are_final(final: JobState) -> None:
    """Delivered, cancelled and rejected jobs never change again."""
    for new in JobState:
        with pytest.raises(InvalidTransition):
            check_transition(final, new)


def test_failed_can_only_be_queued_again_or_resolved_as_sent() -> None:
    """Only an operator leaves `failed`: `retry` (queued) or `resolve --sent` of a fax whose fate was unknown (sent)."""
    assert ALLOWED[JobState.FAILED] == {JobState.QUEUED, JobState.SENT}


def test_sending_twice_needs_the_submitting_state() -> None:
    """No state reaches `submitted` without passing through `submitting` (durability rule 2)."""
    reaching = {s for s, targets in ALLOWED.items() if JobState.SUBMITTED in targets}
    assert reaching == {JobState.SUBMITTING}


@pytest.mark.parametrize(
    ("current", "new"),
    [("queued", "delivered"), ("submitted", "cancelled"), ("rejected", "queued"), ("received", "submitting")],
)
def test_forbidden_moves_raise_with_both_states(current: str, new: str) -> None:
    """A forbidden move names both states in its reason."""
    with pytest.raises(InvalidTransition, match=f"{current}.*{new}"):
        check_transition(JobState(current), JobState(new))
