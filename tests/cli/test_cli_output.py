"""What the reporting commands print: `--json` shapes, aligned tables with headers, plurals, sender and channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.testing import sample_pdf
from tests.cli.conftest import Run

# The keys every job has in `--json` output (README, "JSON output"); scripts rely on them.
JOB_KEYS = {
    "id",
    "state",
    "to",
    "origin",
    "sender",
    "created",
    "updated",
    "pages",
    "attempts",
    "provider_id",
    "reason",
}
FAST = {
    "FAXBRIDGE_SANDBOX_DELAY_SECONDS": "0.1",
    "FAXBRIDGE_POLL_SECONDS": "0.1",
    "FAXBRIDGE_RETRY_DELAY_SECONDS": "0.2",
}


def _send_json(faxbridge: Run, document: Path, *numbers: str) -> list[dict[str, object]]:
    args = [arg for number in numbers for arg in ("--to", number)]
    result = faxbridge("send", "--json", *args, str(document))
    assert result.returncode == 0, result.stderr
    jobs = json.loads(result.stdout)
    assert isinstance(jobs, list)
    return jobs


def test_send_json_is_an_array_of_the_queued_jobs(faxbridge: Run, document: Path) -> None:
    """`send --json` prints only a JSON array: one job per number, with every documented key."""
    jobs = _send_json(faxbridge, document, "+12025550123", "+12025550124")
    assert [j["to"] for j in jobs] == ["+12025550123", "+12025550124"]
    for job in jobs:
        assert set(job) == JOB_KEYS
        assert job["state"] == "queued"
        assert job["origin"] == "cli"
        assert job["provider_id"] is None


def test_jobs_prints_an_aligned_table_with_a_header(faxbridge: Run, document: Path) -> None:
    """`jobs` prints a header row, then one row per job, each column starting where its header does."""
    queued = _send_json(faxbridge, document, "+12025550123", "+12025550124")
    assert faxbridge("cancel", str(queued[0]["id"])).returncode == 0  # "cancelled" is wider than "queued"
    result = faxbridge("jobs")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "TO", "VIA", "SENDER", "PAGES", "CREATED", "(UTC)"]
    assert len(rows) == len(queued)
    for name in ("STATE", "TO", "VIA", "SENDER"):
        column = header.index(name)
        for row in rows:
            assert row[column - 2 : column] == "  " and row[column] != " "
    pages_end = header.index("PAGES") + len("PAGES")
    assert all(row[pages_end - 1] == "3" for row in rows)  # right-aligned under its header


def test_jobs_json_is_an_array_of_jobs(faxbridge: Run, document: Path) -> None:
    """`jobs --json` prints an array with the documented keys, and an empty array when there are none."""
    assert json.loads(faxbridge("jobs", "--json").stdout) == []
    _send_json(faxbridge, document, "+12025550123")
    (job,) = json.loads(faxbridge("jobs", "--json").stdout)
    assert set(job) == JOB_KEYS


def test_status_names_sender_and_channel_and_no_provider_id_yet(faxbridge: Run, tmp_path: Path) -> None:
    """`status` shows who sent the fax and by which channel, "none yet" for a missing provider id, and
    correct plurals (1 page, 2 pages)."""
    one = tmp_path / "one.pdf"
    one.write_bytes(sample_pdf(1))
    (job,) = _send_json(faxbridge, one, "+12025550123")
    result = faxbridge("status", str(job["id"]))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"sender       {job['sender']}" in [line.strip() for line in lines]
    assert "channel      cli" in [line.strip() for line in lines]
    assert "provider id  none yet" in [line.strip() for line in lines]
    assert "None" not in result.stdout
    assert "one.pdf (application/pdf, 1 page)" in result.stdout
    assert "1 pages" not in result.stdout
    text = faxbridge("send", "--to", "+12025550123", str(one))
    assert "2 pages" in text.stdout  # the cover and the page


def test_status_json_adds_documents_and_history(faxbridge: Run, document: Path) -> None:
    """`status --json` prints one object: the job's keys plus documents (in fax order) and history."""
    (job,) = _send_json(faxbridge, document, "+12025550123")
    detail = json.loads(faxbridge("status", str(job["id"]), "--json").stdout)
    assert set(detail) >= JOB_KEYS | {"documents", "history"}
    assert [d["name"] for d in detail["documents"]] == ["cover.pdf", "letter.pdf"]
    assert {"state", "time", "reason"} <= set(detail["history"][0])


@pytest.mark.slow  # sends a fax through the stand-in to its end
def test_cancel_and_retry_json_print_the_job_as_it_now_stands(
    faxbridge: Run, env: dict[str, str], document: Path
) -> None:
    """`cancel --json` and `retry --json` print the job object after the action."""
    (job,) = _send_json(faxbridge, document, "+12025550123")
    cancelled = json.loads(faxbridge("cancel", "--json", str(job["id"])).stdout)
    assert set(cancelled) == JOB_KEYS
    assert cancelled["state"] == "cancelled"
    env.update(FAST)
    failed = faxbridge("send", "--wait", "--json", "--to", "+12025550103", str(document))
    assert failed.returncode == 1
    (final,) = json.loads(failed.stdout)  # only the final array: no progress lines mixed in
    assert final["state"] == "failed"
    assert final["reason"]
    retried = faxbridge("retry", "--json", str(final["id"]))
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["state"] == "queued"


def test_check_json_lists_findings_and_the_exit_code(faxbridge: Run) -> None:
    """`check --json` prints {"exit_code", "findings": [{part, level, message, fix}]}, exit code as printed."""
    result = faxbridge("check", "--json")
    report = json.loads(result.stdout)
    assert set(report) == {"exit_code", "findings"}
    assert report["exit_code"] == result.returncode
    assert report["findings"]
    for finding in report["findings"]:
        assert set(finding) == {"part", "level", "message", "fix"}
        assert finding["level"] in {"ok", "warning", "error", "unreachable"}


@pytest.mark.parametrize("command", ["jobs", "status", "retry", "cancel"])
def test_errors_stay_one_line_on_stderr_with_json(faxbridge: Run, command: str) -> None:
    """With --json an error is still one line on stderr and nothing on stdout (no half document)."""
    args = ["--state", "nonsense"] if command == "jobs" else ["0123456789ab"]
    result = faxbridge(command, "--json", *args)
    assert result.returncode in (1, 2)
    assert result.stdout == ""
    if command != "jobs":  # argparse's own usage message is two lines
        assert len(result.stderr.strip().splitlines()) == 1


def test_backup_json_names_the_copy(faxbridge: Run, tmp_path: Path, document: Path) -> None:
    """`backup --json` prints {"path", "jobs", "bytes"} for the copy it wrote."""
    _send_json(faxbridge, document, "+12025550123")
    result = faxbridge("backup", "--json", str(tmp_path / "copy.db"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {
        "path": str(tmp_path / "copy.db"),
        "jobs": 1,
        "bytes": (tmp_path / "copy.db").stat().st_size,
    }


def test_jobs_refuses_a_limit_below_one(faxbridge: Run) -> None:
    """`jobs --limit 0` (or a word) is a usage error, exit 2, not a list without a limit."""
    for limit in ("0", "-1", "many"):
        result = faxbridge("jobs", "--limit", limit)
        assert result.returncode == 2
        assert "--limit" in result.stderr
