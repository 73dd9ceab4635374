"""`faxbridge send --wait` with no `serve` running sends its own fax and leaves everyone else's queued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Run

FAST = {
    "FAXBRIDGE_SANDBOX_DELAY_SECONDS": "0.1",
    "FAXBRIDGE_POLL_SECONDS": "0.1",
    "FAXBRIDGE_RETRY_DELAY_SECONDS": "0.2",
}


@pytest.mark.slow  # sends a fax through the stand-in to its end
def test_send_wait_without_serve_sends_only_its_own_job(
    faxbridge: Run, env: dict[str, str], document: Path
) -> None:
    """A job queued earlier stays queued, untried, while `send --wait` sends and follows its own
    (mutation: the dispatcher claims without `only`)."""
    env.update(FAST)
    earlier = faxbridge("send", "--json", "--to", "+12025550188", str(document))
    assert earlier.returncode == 0, earlier.stderr
    (other,) = json.loads(earlier.stdout)
    waited = faxbridge("send", "--wait", "--json", "--to", "+12025550123", str(document))
    assert waited.returncode == 0, waited.stderr
    (mine,) = json.loads(waited.stdout)
    assert mine["state"] == "delivered"
    after = json.loads(faxbridge("status", other["id"], "--json").stdout)
    assert after["state"] == "queued"
    assert after["attempts"] == 0
    assert [step["state"] for step in after["history"]] == ["received", "queued"]
