"""`faxbridge send --wait` in demo mode, as a person would run it, in a separate process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bridge.testing import sample_pdf
from tests.helpers.environment import clean_env
from tests.helpers.processes import faxbridge_command

pytestmark = pytest.mark.slow  # `faxbridge send --wait` in its own process, through every state

FAST = {
    "FAXBRIDGE_SANDBOX_DELAY_SECONDS": "0.2",
    "FAXBRIDGE_POLL_SECONDS": "0.1",
    "FAXBRIDGE_RETRY_DELAY_SECONDS": "0.3",
}


def _faxbridge(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(**FAST, FAXBRIDGE_DATA_DIR=str(tmp_path / "var"))
    return subprocess.run(
        faxbridge_command(*args),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_send_wait_reaches_delivered(tmp_path: Path) -> None:
    """A fax to an ordinary number prints every state through to delivered and exits 0."""
    (tmp_path / "some.pdf").write_bytes(sample_pdf(2))
    result = _faxbridge(tmp_path, "send", "--to", "+12025550123", "--wait", "some.pdf")
    assert result.returncode == 0, result.stderr
    states = [
        line.split()[2].rstrip(":")
        for line in result.stdout.splitlines()
        if line[:2].isdigit() and ":" in line[:8]
    ]
    assert states == ["received", "queued", "submitting", "submitted", "sent", "delivered"]
    assert "Delivered: the receiving fax machine confirmed all 3 pages." in result.stdout


def test_busy_number_fails_with_line_busy_after_its_retries(tmp_path: Path) -> None:
    """A ...555-0101 number is tried four times and ends failed with "line busy", exit 1."""
    (tmp_path / "some.pdf").write_bytes(sample_pdf(1))
    result = _faxbridge(tmp_path, "send", "--to", "+1 202 555 0101", "--wait", "some.pdf")
    assert result.returncode == 1
    assert result.stdout.count("submitting") == 4
    assert "Failed: line busy (tried 4 times)" in result.stdout
    status = _faxbridge(tmp_path, "jobs", "--json")
    assert '"state": "failed"' in status.stdout
