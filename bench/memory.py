"""Large mail memory: peak RSS growth of serve while it accepts and uploads a 25 MB attachment.

Reported as a multiple of the message size, beside the same figure for the bare aiosmtpd
handler (which holds the message once and writes it).
"""

from __future__ import annotations

import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    FAX_DOMAIN,
    PeakRss,
    Sandbox,
    Serve,
    clean_env,
    fax_mail,
    free_port,
    pdf_of_size,
    rss_kib,
    show,
    wait_for,
    write_result,
)

ATTACHMENT = 25 * 1024 * 1024


def _send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.sendmail("bench@example.com", [f"12025550123@{FAX_DOMAIN}"], raw)


def _bridge(work: Path, raw: bytes) -> float:
    sandbox = Sandbox()
    serve = Serve(work / "var", sandbox.url, cover="none")
    try:
        time.sleep(1.0)
        before = rss_kib(serve.pid)
        with PeakRss(serve.pid) as peak:
            _send(serve.smtp_port, raw)
            # Until the upload to the provider is done: that streams from the spool.
            wait_for(lambda: sandbox.message_count() >= 1, 120, "the upload")
            time.sleep(0.5)
        return (peak.peak - before) * 1024 / len(raw)
    finally:
        serve.stop()
        sandbox.stop()


def _bare(work: Path, raw: bytes) -> float:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_smtpd", "--port", str(port), "--dir", str(work / "bare")],
        env=clean_env(),
    )
    try:
        time.sleep(1.5)
        before = rss_kib(process.pid)
        with PeakRss(process.pid) as peak:
            _send(port, raw)
            time.sleep(0.5)
        return (peak.peak - before) * 1024 / len(raw)
    finally:
        process.terminate()
        process.wait(10)


def run() -> dict[str, Any]:
    raw = fax_mail(1, pdf_of_size(ATTACHMENT))
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-memory-") as tmp:
        bridge = _bridge(Path(tmp) / "bridge", raw)
        bare = _bare(Path(tmp), raw)
    figures = {
        "attachment_bytes": ATTACHMENT,
        "message_bytes": len(raw),
        "faxbridge_peak_growth_x_message": round(bridge, 2),
        "bare_aiosmtpd_peak_growth_x_message": round(bare, 2),
        "ratio_to_bare_aiosmtpd": round(bridge / bare, 2) if bare > 0 else None,
        "target": "at most 3x the message size",
    }
    show(
        "Large mail memory (25 MB attachment, accepted and uploaded)",
        [
            ("message size", f"{len(raw) / 1048576:.1f} MiB"),
            ("faxbridge peak RSS growth", f"{bridge:.2f} x message (target <= 3)"),
            ("bare aiosmtpd peak RSS growth", f"{bare:.2f} x message"),
        ],
    )
    write_result("memory", figures)
    return figures


if __name__ == "__main__":
    run()
