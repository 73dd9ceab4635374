"""`faxbridge resolve` and the failing notices `faxbridge status` shows, in-process on a temporary data directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adapters.cli.main import main
from adapters.sqlite import SqliteJobStore
from bridge.clock import utcnow
from bridge.states import JobState
from bridge.wording import UNKNOWN_FATE
from tests.core import test_cli
from tests.core.test_cli import _queue

data_dir = test_cli.data_dir  # the CLI tests' fixture: FAXBRIDGE_DATA_DIR in a temporary directory


def _in_store(data_dir: Path, work: str, job_id: str) -> None:
    """Move a queued job on behind the CLI's back, as a `serve` would have."""

    async def run() -> None:
        store = SqliteJobStore(data_dir / "var" / "faxbridge.db", data_dir / "var" / "spool")
        await store.open()
        try:
            if work in ("submitting", "unknown"):
                await store.claim_due(utcnow(), lease_until=utcnow())
            if work == "unknown":
                await store.transition(job_id, JobState.FAILED, reason=UNKNOWN_FATE, now=utcnow())
            if work == "failing reply":
                (receipt,) = await store.pending_replies(utcnow())
                await store.reply_failed(
                    [receipt.id], retry_at=utcnow(), error="SMTPNotSupported: STARTTLS is required"
                )
        finally:
            await store.close()

    asyncio.run(run())


def _status(capsys: pytest.CaptureFixture[str], job_id: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", job_id, "--json"]) == 0
    status: dict[str, object] = json.loads(capsys.readouterr().out)
    return status


def test_resolve_sent_records_a_fax_whose_fate_was_unknown(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`resolve JOB --sent` turns a job failed as unknown into a sent one, exit 0."""
    job_id = _queue(data_dir, capsys)
    _in_store(data_dir, "unknown", job_id)
    assert main(["resolve", job_id, "--sent"]) == 0
    assert capsys.readouterr().out.split() == [job_id, "sent"]
    status = _status(capsys, job_id)
    assert status["state"] == "sent"
    history = status["history"]
    assert isinstance(history, list)
    assert "found at RingCentral that it was sent" in history[-1]["reason"]


def test_resolve_not_sent_queues_a_job_stuck_submitting(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resolve JOB --not-sent` queues a job left `submitting` past its submission time, to be sent again."""
    job_id = _queue(data_dir, capsys)
    _in_store(data_dir, "submitting", job_id)
    monkeypatch.setenv("FAXBRIDGE_SUBMIT_TIMEOUT_SECONDS", "0")  # its POST is surely over by now
    assert main(["resolve", job_id, "--not-sent"]) == 0
    assert _status(capsys, job_id)["state"] == "queued"


def test_resolve_refuses_a_job_whose_fate_is_known(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queued job cannot be resolved: exit 1 with the reason; naming neither --sent nor --not-sent is exit 2."""
    job_id = _queue(data_dir, capsys)
    assert main(["resolve", job_id, "--sent"]) == 1
    assert "only a submission whose fate RingCentral could not tell" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["resolve", job_id])
    assert usage.value.code == 2


def test_status_shows_a_notice_that_keeps_failing(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A receipt the relay refused shows in `status` (tries and error) and in `status --json`."""
    job_id = _queue(data_dir, capsys)
    _in_store(data_dir, "failing reply", job_id)
    status = _status(capsys, job_id)
    (failing,) = status["replies_failing"]  # type: ignore[misc]
    assert failing["kind"] == "acknowledge"
    assert failing["attempts"] == 1
    assert "STARTTLS is required" in failing["error"]
    assert main(["status", job_id]) == 0
    assert "acknowledge notice to the sender failed 1 time," in capsys.readouterr().out
