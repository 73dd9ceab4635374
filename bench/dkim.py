"""Sender authentication cost: DKIM verification of a signed mail (the default outside demo mode).

Measured in this process with the key served from a table instead of DNS (a lookup costs what the
resolver costs), for a small mail and a 25 MB one, beside reading the same mail into a fax request
(`parse_mail`, which every mail goes through anyway): time and peak memory as ratios of that baseline.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
from dkim import dknewkey

from adapters.email.mime import Limits, parse_mail
from adapters.email.sender_auth import Outcome, verify_sender
from bench.common import FAX_DOMAIN, fax_mail, pdf_of_size, show, write_result
from bridge.settings import Settings

SIZES = {"small": 100 * 1024, "large": 25 * 1024 * 1024}
REPEATS = {"small": 50, "large": 3}
SELECTOR = "bench"


def _key(directory: Path) -> tuple[bytes, bytes]:
    private, public = directory / "bench.pem", directory / "bench.txt"
    dknewkey.GenRSAKeys(str(private), verbose=False)
    dknewkey.ExtractRSADnsPublicKey(str(private), str(public), verbose=False)
    return private.read_bytes(), public.read_bytes()


def _measure(action: Callable[[], object], repeats: int) -> tuple[float, int]:
    """Median seconds of `repeats` runs, and the peak bytes one run allocates."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def run() -> dict[str, Any]:
    settings = Settings.from_mapping({"sender_auth": "dkim", "allowed_senders": "@example.com"})
    limits = Limits(max_bytes=settings.smtp.max_message_bytes)
    figures: dict[str, Any] = {}
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-dkim-") as tmp:
        private, record = _key(Path(tmp))
    keys = {f"{SELECTOR}._domainkey.example.com": record}
    for name, size in SIZES.items():
        unsigned = fax_mail(1, pdf_of_size(size))
        raw = bytes(dkim.sign(unsigned, SELECTOR.encode(), b"example.com", private)) + unsigned
        recipients = [f"12025550123@{FAX_DOMAIN}"]

        def verify(raw: bytes = raw, recipients: list[str] = recipients) -> None:
            result = verify_sender(
                raw, settings=settings.smtp, recipients=recipients, authenticated=False, lookup=keys.get
            )
            assert result.outcome is Outcome.PASS, result

        def parse(raw: bytes = raw) -> None:
            parse_mail(raw, limits)

        verify_s, verify_peak = _measure(verify, REPEATS[name])
        parse_s, parse_peak = _measure(parse, REPEATS[name])
        figures[name] = {
            "message_bytes": len(raw),
            "dkim_ms": round(verify_s * 1000, 1),
            "parse_mail_ms": round(parse_s * 1000, 1),
            "dkim_time_ratio_to_parse": round(verify_s / parse_s, 2),
            "dkim_peak_x_message": round(verify_peak / len(raw), 2),
            "parse_mail_peak_x_message": round(parse_peak / len(raw), 2),
        }
        rows += [
            (f"{name} mail", f"{len(raw) / 1048576:.2f} MiB"),
            (
                f"  DKIM verify ({name})",
                f"{verify_s * 1000:.1f} ms, {verify_s / parse_s:.2f} x parse_mail ({parse_s * 1000:.1f} ms)",
            ),
            (
                f"  peak memory ({name})",
                f"{verify_peak / len(raw):.2f} x message (parse_mail: {parse_peak / len(raw):.2f} x)",
            ),
        ]
    show("Sender authentication: DKIM verification against reading the mail", rows)
    write_result("dkim", figures)
    return figures


if __name__ == "__main__":
    run()
