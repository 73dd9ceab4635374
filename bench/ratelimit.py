"""Using the rate limit: 60 faxes against the stand-in with the Heavy group at 10 per (short) window.

The baseline is the limit itself: what a client that never wasted a slot would achieve.
"""

from __future__ import annotations

import math
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
    # A perfect client sends LIMIT at once, then LIMIT more at the start of each later window.
    ideal_span = (math.ceil(FAXES / LIMIT) - 1) * WINDOW
    windows_used = span / WINDOW + 1
    per_window = len(accepted) / windows_used
    figures = {
        "faxes": FAXES,
        "limit_per_window": LIMIT,
        "window_seconds": WINDOW,
        "submissions_per_window": round(per_window, 2),
        "share_of_limit": round(per_window / LIMIT, 3),
        "span_seconds": round(span, 2),
        "ideal_span_seconds": ideal_span,
        "http_429_answers": refused,
        "targets": "at least 95% of the limit per window, at most one 429",
    }
    show(
        f"Using the rate limit ({FAXES} faxes, Heavy group {LIMIT} per {WINDOW:.0f} s)",
        [
            (
                "submissions per window",
                f"{per_window:.2f} of {LIMIT} ({per_window / LIMIT:.1%}; target >= 95%)",
            ),
            ("first to last submission", f"{span:.1f} s (a perfect client: {ideal_span:.0f} s)"),
            ("429 answers", f"{refused} (target <= 1)"),
        ],
    )
    write_result("ratelimit", figures)
    return figures


if __name__ == "__main__":
    run()
