"""Large mail memory: peak RSS growth while serve accepts and uploads a 25 MB attachment.

Reported as a multiple of the message size, for serve's own process and for serve with its
worker processes (which read the mail and the document), beside the same figure for the bare
aiosmtpd handler (which holds the message as lines, then joined, and writes it). Generated covers,
as by default; the worker pool is started by a small mail first, so its start is not counted.
"""

from __future__ import annotations

import smtplib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    FAX_DOMAIN,
    BareSmtpd,
    PeakRss,
    fax_mail,
    pdf_of_size,
    show,
    start_sandbox,
    start_serve,
    tree_rss_kib,
    write_result,
)
from tests.helpers.processes import rss_kib
from tests.helpers.waiting import wait_for

ATTACHMENT = 25 * 1024 * 1024


def _send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.sendmail("bench@example.com", [f"12025550123@{FAX_DOMAIN}"], raw)


def _bridge(work: Path, raw: bytes) -> tuple[float, float]:
    sandbox = start_sandbox()
    serve = start_serve(work / "var", sandbox.url)
    try:
        _send(serve.smtp_port, fax_mail(0, pdf_of_size(10 * 1024), to="12025550188"))
        wait_for(lambda: sandbox.message_count() >= 1, 120, "the warm-up fax")
        time.sleep(1.0)
        before, before_tree = rss_kib(serve.pid), tree_rss_kib(serve.pid)
        with PeakRss(serve.pid, tree=True) as peak:
            _send(serve.smtp_port, raw)
            # Until the upload to the provider is done: that streams from the spool.
            wait_for(lambda: sandbox.message_count() >= 2, 120, "the upload")
            time.sleep(0.5)
        return (peak.peak - before) * 1024 / len(raw), (peak.peak_tree - before_tree) * 1024 / len(raw)
    finally:
        serve.stop()
        sandbox.stop()


def _bare(work: Path, raw: bytes) -> float:
    bare = BareSmtpd(work / "bare")
    try:
        time.sleep(1.5)
        before = rss_kib(bare.pid)
        with PeakRss(bare.pid) as peak:
            _send(bare.port, raw)
            time.sleep(0.5)
        return (peak.peak - before) * 1024 / len(raw)
    finally:
        bare.stop()


def run() -> dict[str, Any]:
    raw = fax_mail(1, pdf_of_size(ATTACHMENT))
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-memory-") as tmp:
        bridge, with_workers = _bridge(Path(tmp) / "bridge", raw)
        bare = _bare(Path(tmp), raw)
    figures = {
        "attachment_bytes": ATTACHMENT,
        "message_bytes": len(raw),
        "faxbridge_peak_growth_x_message": round(bridge, 2),
        "faxbridge_with_workers_peak_growth_x_message": round(with_workers, 2),
        "bare_aiosmtpd_peak_growth_x_message": round(bare, 2),
        "ratio_to_bare_aiosmtpd": round(bridge / bare, 2) if bare > 0 else None,
        "target": "at most 1.5x the message size",
    }
    show(
        "Large mail memory (25 MB attachment, accepted and uploaded)",
        [
            ("message size", f"{len(raw) / 1048576:.1f} MiB"),
            ("faxbridge peak RSS growth", f"{bridge:.2f} x message (target <= 1.5)"),
            ("faxbridge with its workers", f"{with_workers:.2f} x message"),
            ("bare aiosmtpd peak RSS growth", f"{bare:.2f} x message"),
        ],
    )
    write_result("memory", figures)
    return figures


if __name__ == "__main__":
    run()
