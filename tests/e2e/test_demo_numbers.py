"""Demo mode as a newcomer tries it: `faxbridge serve` with nothing set, and a fax to each demo number."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.testing import sample_pdf
from tests.helpers.executable import Serve
from tests.helpers.waiting import wait_for
from tests.reliability.reliability_harness import FINAL

# Ending within a minute is the promise; the bound only stops a hung run, it is not the measure.
GENEROUS = 90


@pytest.mark.slow  # a real serve taking four faxes to their end at demo speed
def test_the_four_demo_numbers_reach_their_end_with_demo_defaults(tmp_path: Path) -> None:
    """With no tunable set, busy, no answer, not a fax machine and busy-once all end well within
    the bound (mutation: demo mode waiting the production 300 s between tries, or polling every 10 s)."""
    serve = Serve(tmp_path)
    try:
        document = tmp_path / "letter.pdf"
        document.write_bytes(sample_pdf(1))
        for number in ("+12025550101", "+12025550102", "+12025550103", "+12025550104"):
            sent = serve.run("send", "--to", number, str(document))
            assert sent.returncode == 0, sent.stderr

        def ended() -> bool:
            return all(job["state"] in FINAL for job in serve.jobs())

        wait_for(ended, GENEROUS, "the four demo faxes to end", step=1)
        jobs = {job["to"][-4:]: job for job in serve.jobs()}
    finally:
        serve.stop()
    assert {k: (v["state"], v["attempts"]) for k, v in jobs.items()} == {
        "0101": ("failed", 4),
        "0102": ("failed", 4),
        "0103": ("failed", 1),
        "0104": ("delivered", 2),
    }
    assert "line busy (tried 4 times)" in jobs["0101"]["reason"]
    assert "no answer" in jobs["0102"]["reason"]
