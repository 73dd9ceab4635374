"""Jobs and received faxes as plain data for `--json` output and the HTTP API: the field names operators script against."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.model import Job
from bridge.ports import ReplyTrouble
from bridge.received import ReceivedFax
from bridge.states import JobState

# `reason` says why a job failed or was refused, and is null otherwise.
_EXPLAINED = frozenset({JobState.FAILED, JobState.REJECTED, JobState.CANCELLED})


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": job.state.value,
        "to": job.to,
        "origin": job.origin.channel.value,
        "sender": job.origin.sender,
        "created": iso(job.created),
        "updated": iso(job.updated),
        "pages": job.pages,
        "attempts": job.attempts,
        "provider_id": job.provider_id,
        "reason": job.reason if job.state in _EXPLAINED else None,
    }


def job_detail(job: Job, replies_failing: Sequence[ReplyTrouble] = ()) -> dict[str, Any]:
    detail = job_summary(job)
    detail["documents"] = [
        {"name": d.name, "type": d.content_type, "pages": d.pages, "role": d.role.value}
        for d in job.documents
    ]
    detail["left_out"] = [{"name": i.name, "reason": i.reason} for i in job.left_out]
    detail["history"] = [{"state": h.state.value, "time": iso(h.at), "reason": h.reason} for h in job.history]
    # Notices to the sender that keep failing (a relay that refuses them, say), so an operator sees why.
    detail["replies_failing"] = [
        {"kind": r.kind.value, "attempts": r.attempts, "retry_at": iso(r.retry_at), "error": r.error}
        for r in replies_failing
    ]
    return detail


def received_summary(fax: ReceivedFax) -> dict[str, Any]:
    """A received fax as `faxbridge inbox --json` prints it."""
    return {
        "id": fax.id,
        "provider_id": fax.provider_id,
        "from": fax.from_number,
        "to": fax.to_number,
        "received": iso(fax.received),
        "pages": fax.pages,
        "note": fax.note,
        "document_kept": not fax.purged,
        "deliveries": [
            {
                "destination": str(d.destination),
                "state": d.state.value,
                "attempts": d.attempts,
                "updated": iso(d.updated),
                "reason": d.reason,
            }
            for d in fax.deliveries
        ],
    }
