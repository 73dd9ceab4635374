"""Under attack: the hostile corpus sent in a loop on 4 connections while normal mail flows on 4 others.

faxbridge runs in the default configuration. First normal mail flows alone (the baseline, this
run), then with the attack beside it. Reported: the event loop's lag p99 (from serve's own
faxbridge_event_loop_lag_seconds), normal mail's 250 latency p99 under attack against without,
peak RSS of serve and of serve with its worker processes, and how the hostile mails were answered.
"""

from __future__ import annotations

import re
import smtplib
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    FAX_DOMAIN,
    PeakRss,
    fax_mail,
    pdf_of_size,
    percentile,
    show,
    start_serve,
    write_result,
)
from tests.data.hostile.generate import Case, build
from tests.helpers.processes import Serve

NORMAL_CONNECTIONS = 4
HOSTILE_CONNECTIONS = 4
PHASE_SECONDS = 20.0
PACE_SECONDS = 0.1  # each normal connection waits this long between mails
SENDER = "bench@example.com"
_BUCKET = re.compile(r'faxbridge_event_loop_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)')


def _lag_buckets(serve: Serve) -> dict[float, float]:
    text = httpx.get(f"http://127.0.0.1:{serve.http_port}/metrics", timeout=30).text
    return {float("inf") if le == "+Inf" else float(le): float(n) for le, n in _BUCKET.findall(text)}


def _lag_p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The 99th percentile of lag samples between two scrapes, as the upper bound of its bucket (ms)."""
    counts = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = counts[float("inf")]
    for le, cumulative in counts.items():
        if cumulative >= 0.99 * total:
            return le * 1000
    return float("inf")


def _normal(
    serve: Serve, until: float, latencies: list[float], index: list[int], lock: threading.Lock
) -> None:
    attachment = pdf_of_size(100 * 1024)
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=120) as client:
        while time.monotonic() < until:
            with lock:
                index[0] += 1
                number = index[0]
            raw = fax_mail(number, attachment)
            started = time.perf_counter()
            client.sendmail(SENDER, [f"12025550123@{FAX_DOMAIN}"], raw)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(PACE_SECONDS)


def _hostile(
    serve: Serve, folder: Path, cases: list[Case], until: float, answers: Counter[int], offset: int
) -> None:
    position = offset
    while time.monotonic() < until:
        case = cases[position % len(cases)]
        position += 1
        raw = (folder / case.mail).read_bytes().replace(b"fax.test", FAX_DOMAIN.encode())
        recipients = [r.replace("fax.test", FAX_DOMAIN) for r in case.recipients]
        try:
            with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=120) as client:
                client.ehlo()
                client.mail(SENDER)
                accepted = [client.rcpt(r)[0] for r in recipients]
                if 250 in accepted:
                    answers[client.data(raw)[0]] += 1
                else:
                    answers[accepted[0]] += 1
        except smtplib.SMTPException as exc:
            answers[getattr(exc, "smtp_code", 0)] += 1


def _phase(serve: Serve, folder: Path, cases: list[Case] | None) -> dict[str, Any]:
    until = time.monotonic() + PHASE_SECONDS
    latencies: list[float] = []
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    index = [int(time.time())]
    threads = [
        threading.Thread(target=_normal, args=(serve, until, latencies, index, lock))
        for _ in range(NORMAL_CONNECTIONS)
    ]
    if cases:
        threads += [
            threading.Thread(target=_hostile, args=(serve, folder, cases, until, answers, n * 3))
            for n in range(HOSTILE_CONNECTIONS)
        ]
    before = _lag_buckets(serve)
    with PeakRss(serve.pid, tree=True, interval=0.02) as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {
        "normal_mails": len(latencies),
        "normal_250_p50_ms": round(percentile(latencies, 0.5), 1),
        "normal_250_p99_ms": round(percentile(latencies, 0.99), 1),
        "loop_lag_p99_ms": _lag_p99(before, _lag_buckets(serve)),
        "peak_rss_mib": round(peak.peak / 1024, 1),
        "peak_rss_with_workers_mib": round(peak.peak_tree / 1024, 1),
        "hostile_answers": dict(sorted(answers.items())),
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-attack-") as tmp:
        work = Path(tmp)
        cases = build(work / "hostile")
        serve = start_serve(work / "var", None)
        try:
            _phase(serve, work, None)  # warm-up: workers started, caches filled
            quiet = _phase(serve, work, None)
            attacked = _phase(serve, work / "hostile", cases)
            alive = serve.process.poll() is None
        finally:
            serve.stop()
    ratio = attacked["normal_250_p99_ms"] / quiet["normal_250_p99_ms"]
    figures: dict[str, Any] = {
        "configuration": "default (demo mode: generated cover pages)",
        "phase_seconds": PHASE_SECONDS,
        "normal_connections": NORMAL_CONNECTIONS,
        "hostile_connections": HOSTILE_CONNECTIONS,
        "without_attack": quiet,
        "under_attack": attacked,
        "normal_p99_ratio_under_attack": round(ratio, 2),
        "serve_alive_after": alive,
        "targets": "loop lag p99 < 100 ms; normal 250 p99 under attack <= 2x; peak RSS < 400 MB",
    }
    show(
        f"Under attack: hostile corpus on {HOSTILE_CONNECTIONS} connections, normal mail on {NORMAL_CONNECTIONS} "
        f"({PHASE_SECONDS:.0f} s each phase, default configuration)",
        [
            (
                "event-loop lag p99",
                f"{quiet['loop_lag_p99_ms']} ms quiet, {attacked['loop_lag_p99_ms']} ms attacked (target < 100)",
            ),
            (
                "normal mail 250 p99",
                f"{quiet['normal_250_p99_ms']} ms quiet, {attacked['normal_250_p99_ms']} ms attacked: {ratio:.2f}x (target <= 2)",
            ),
            ("normal mails", f"{quiet['normal_mails']} quiet, {attacked['normal_mails']} attacked"),
            (
                "peak RSS",
                f"serve {attacked['peak_rss_mib']} MiB; with its workers {attacked['peak_rss_with_workers_mib']} MiB (target < 400)",
            ),
            ("hostile mails answered", str(attacked["hostile_answers"])),
            ("serve alive after", str(alive)),
        ],
    )
    write_result("attack", figures)
    return figures


if __name__ == "__main__":
    run()
