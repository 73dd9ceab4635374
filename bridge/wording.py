"""Plain words for states and outcomes, shared by every replier so Slack and email say the same."""

from __future__ import annotations

import functools

from bridge.model import DocumentRole, Job
from bridge.ports import FailureCause
from bridge.received import ReceivedFax
from bridge.states import JobState

CAUSE_WORDS = {
    FailureCause.LINE_BUSY: "line busy",
    FailureCause.NO_ANSWER: "no answer",
    FailureCause.NO_FAX_MACHINE: "the number answered but is not a fax machine",
    FailureCause.INVALID_NUMBER: "the number could not be dialled",
    FailureCause.REFUSED: "RingCentral refused to send it",
    FailureCause.DOCUMENT: "RingCentral could not prepare the documents",
    FailureCause.CALL_FAILED: "the call failed",
    FailureCause.UNKNOWN: "the fax failed",
}

# Why a submission failed when RingCentral could not tell whether it took it (`faxbridge resolve` settles it).
UNKNOWN_FATE = "unknown whether it was sent; check RingCentral"

STATE_WORDS = {
    JobState.RECEIVED: "received",
    JobState.QUEUED: "queued",
    JobState.SUBMITTING: "handing to RingCentral",
    JobState.SUBMITTED: "dialling",
    JobState.SENT: "sent",
    JobState.DELIVERED: "delivered",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
    JobState.REJECTED: "refused",
}


@functools.lru_cache(maxsize=4096)
def display_number(e164: str) -> str:
    """A number as people read it (+1 202-555-0123)."""
    import phonenumbers

    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def contents(job: Job) -> list[str]:
    """One line per thing faxed, in fax order: the cover, then each document with its pages."""
    lines = []
    for doc in job.documents:
        if doc.role is DocumentRole.COVER:
            lines.append(f"cover page ({plural(doc.pages, 'page')})")
        else:
            lines.append(f"{doc.name} ({plural(doc.pages, 'page')})")
    if job.envelope.cover_index:
        lines.insert(0, f"RingCentral cover page {job.envelope.cover_index}")
    return lines


def left_out(job: Job) -> list[str]:
    return [f"{item.name}: {item.reason}" for item in job.left_out]


def outcome(job: Job) -> str:
    """The end of the story in one sentence, or where it stands now."""
    pages = plural(job.pages, "page")
    tries = "" if job.attempts <= 1 else f" after {job.attempts} tries"
    if job.state is JobState.DELIVERED:
        return f"Delivered: the receiving fax machine confirmed all {pages}{tries}."
    if job.state is JobState.SENT and job.settled:
        return f"Sent ({pages}){tries}; RingCentral did not report a confirmation from the receiving machine."
    if job.state is JobState.SENT:
        return f"Sent ({pages}); waiting for the receiving machine to confirm."
    if job.state is JobState.FAILED:
        return f"Failed: {job.reason or 'the fax could not be sent'}."
    if job.state is JobState.CANCELLED:
        return f"Cancelled: {job.reason or 'cancelled before it was sent'}."
    if job.state is JobState.REJECTED:
        return f"Refused: {job.reason or 'the fax could not be accepted'}."
    if job.state is JobState.QUEUED and job.reason and job.reason != "accepted":
        return f"Queued: {job.reason}."
    return STATE_WORDS[job.state].capitalize() + "."


def succeeded(job: Job) -> bool:
    return job.state in (JobState.DELIVERED, JobState.SENT)


def received_subject(fax: ReceivedFax) -> str:
    """`Fax from +1 202-555-0123 (3 pages)`: the subject of a received fax's mail."""
    return f"Fax from {display_number(fax.from_number)} ({plural(fax.pages, 'page')})"


def received_line(fax: ReceivedFax) -> str:
    """One line on a received fax: from which number to which, pages, when."""
    return (
        f"Fax from {display_number(fax.from_number)} to {display_number(fax.to_number)},"
        f" {plural(fax.pages, 'page')}, received {fax.received:%Y-%m-%d %H:%M} UTC"
    )


def fetch_notice(fax: ReceivedFax) -> str:
    """What a notice without the document says instead: where the document is and how to fetch it."""
    return (
        "The document is kept on the fax bridge only. To fetch it, run on the bridge's host:"
        f" faxbridge inbox get {fax.id} -o {fax.id}.pdf"
    )
