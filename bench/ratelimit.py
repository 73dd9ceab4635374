"""Using the rate limit: 60 faxes against the stand-in with the Heavy group at 10 per (short) window.

The baseline is the limit itself: what a client that never wasted a slot would achieve.
"""

from __future__ import annotations

import smtplib
import tempfile
from pathlib import Path
from typing import Any

from bench.common import FAX_DOMAIN, fax_mail, pdf_of_size, show, start_sandbox, start_serve, write_result
from tests.helpers.waiting import wait_for

FAXES = 60
LIMIT = 10
WINDOW = 6.0


def run() -> dict[str, Any]:
    sandbox = start_sandbox(heavy_limit=LIMIT, window=WINDOW, delay=0.2)
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-rate-") as tmp:
        serve = start_serve(Path(tmp) / "var", sandbox.url, cover="none", poll_seconds="1")
        try:
            attachment = pdf_of_size(20 * 1024)
            with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=60) as client:
                for index in range(FAXES):
                    # A number each, so only the rate limit paces them (555-0110 and up).
                    to = f"12025550{110 + index}"
                    client.sendmail(
                        "bench@example.com", [f"{to}@{FAX_DOMAIN}"], fax_mail(index, attachment, to=to)
                    )
            wait_for(lambda: sandbox.message_count() >= FAXES, 300, "every fax at the stand-in")
            records = [r for r in sandbox.requests() if r["path"].endswith("/fax") and r["method"] == "POST"]
        finally:
            serve.stop()
            sandbox.stop()
    accepted = sorted(float(r["at"]) for r in records if r["status"] == 200)
    refused = sum(1 for r in records if r["status"] == 429)
    span = accepted[-1] - accepted[0]
    # The limit allows FAXES in FAXES / LIMIT windows; the bridge took from its first send to its last,
    # plus the last one's share of a window. (A client that bursts LIMIT at the start of each window
    # looks faster by one window on this count, and draws 429s from a server that counts arrivals.)
    gap = WINDOW / LIMIT
    allowed = FAXES * gap
    taken = span + gap
    figures = {
        "faxes": FAXES,
        "limit_per_window": LIMIT,
        "window_seconds": WINDOW,
        "seconds_taken": round(taken, 2),
        "seconds_the_limit_allows": allowed,
        "share_of_limit": round(allowed / taken, 3),
        "http_429_answers": refused,
        "targets": "at least 95% of the limit, no 429",
    }
    show(
        f"Using the rate limit ({FAXES} faxes, Heavy group {LIMIT} per {WINDOW:.0f} s)",
        [
            (
                "share of the limit",
                f"{allowed / taken:.1%} ({taken:.1f} s where it allows {allowed:.0f} s; target >= 95%)",
            ),
            ("429 answers", f"{refused} (target 0)"),
        ],
    )
    write_result("ratelimit", figures)
    return figures


if __name__ == "__main__":
    run()
