"""The `faxbridge` command line, run in-process on a temporary data directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from adapters.cli.main import main
from bridge.testing import sample_pdf


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("FAXBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAXBRIDGE_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def _queue(data_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    document = data_dir / "letter.pdf"
    document.write_bytes(sample_pdf(2))
    assert main(["send", "--to", "+1 202 555 0123", *extra, str(document)]) == 0
    return capsys.readouterr().out.split()[0]


def test_send_queues_and_status_shows_it_as_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`send` without --wait queues the fax; `status --json` shows it with the contract's fields."""
    job_id = _queue(data_dir, capsys, "--cover-text", "Please sign")
    assert main(["status", job_id, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["id"] == job_id
    assert status["state"] == "queued"
    assert status["to"] == "+12025550123"
    assert status["origin"] == "cli"
    assert status["pages"] == 3
    assert status["reason"] is None
    assert [d["name"] for d in status["documents"]] == ["cover.pdf", "letter.pdf"]
    assert [h["state"] for h in status["history"]] == ["received", "queued"]
    assert status["created"].endswith("Z")


def test_jobs_lists_as_json_array(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`jobs --json` prints an array with every job and the documented keys."""
    job_id = _queue(data_dir, capsys)
    assert main(["jobs", "--json"]) == 0
    (job,) = json.loads(capsys.readouterr().out)
    assert job["id"] == job_id
    assert set(job) >= {
        "id",
        "state",
        "to",
        "origin",
        "created",
        "updated",
        "pages",
        "attempts",
        "provider_id",
        "reason",
    }


def test_cancel_then_retry_is_refused(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A queued job can be cancelled; retrying a cancelled job fails with exit code 1 and a reason."""
    job_id = _queue(data_dir, capsys)
    assert main(["cancel", job_id]) == 0
    assert main(["retry", job_id]) == 1
    assert "only failed jobs can be retried" in capsys.readouterr().err


def test_bad_number_exits_1_with_the_reason(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A premium-rate number is refused with exit code 1 and the reason in words."""
    document = data_dir / "a.pdf"
    document.write_bytes(sample_pdf(1))
    assert main(["send", "--to", "+1 900 555 0123", str(document)]) == 1
    assert "premium-rate numbers are not allowed" in capsys.readouterr().err


def test_unfaxable_file_exits_1_naming_it(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An executable given to `send` is refused, naming the file and why."""
    program = data_dir / "tool.exe"
    program.write_bytes(b"MZ" + b"\0" * 100)
    assert main(["send", "--to", "+12025550123", str(program)]) == 1
    assert "tool.exe: programs and scripts cannot be faxed" in capsys.readouterr().err


def test_missing_file_is_a_usage_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist is exit code 2, with its name."""
    assert main(["send", "--to", "+12025550123", str(data_dir / "nope.pdf")]) == 2
    assert "nope.pdf" in capsys.readouterr().err


def test_bad_configuration_is_exit_2(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken setting is reported with its variable name and exit code 2."""
    monkeypatch.setenv("FAXBRIDGE_COVER", "sparkly")
    assert main(["jobs"]) == 2
    assert "FAXBRIDGE_COVER" in capsys.readouterr().err


def test_unknown_job_is_exit_1(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for a job that does not exist fails with exit code 1."""
    assert main(["status", "deadbeef0000"]) == 1
    assert "no job deadbeef0000" in capsys.readouterr().err
