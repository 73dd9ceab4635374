"""Queue at scale: 10,000 jobs behind a provider that is down.

Measures the serve process's RSS while it holds them, the time to claim the next due job with
100, 1,000 and 10,000 queued (the 100 figure is the baseline), and how fast the backlog drains
once the provider is back.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.sqlite import SqliteJobStore
from bench.common import median, show, start_sandbox, start_serve, write_result
from bridge.model import Channel, Document, Envelope, Origin, PreparedFax
from bridge.testing import kept, sample_pdf
from tests.helpers.ports import free_port
from tests.helpers.processes import rss_kib

SIZES = (100, 1_000, 10_000)
CLAIMS = 100


async def _fill(store: SqliteJobStore, count: int, start: int = 0) -> None:
    document = Document(name="a.pdf", content_type="application/pdf", pages=1, content=kept(sample_pdf(1)))
    prepared = PreparedFax(envelope=Envelope(cover_index=0), documents=(document,))
    origin = Origin(channel=Channel.CLI, sender="bench")
    now = datetime.now(UTC)
    for index in range(start, start + count):
        # A number each, as a real backlog has: one open submission per number is allowed.
        number = f"+1202555{index % 10_000:04d}"
        await store.create_jobs(
            numbers=[number], prepared=prepared, origin=origin, idempotency_key=None, now=now
        )


async def _claim_times(store: SqliteJobStore) -> float:
    """Median milliseconds to claim the next due job (each claim is one fsynced transaction)."""
    times = []
    for _ in range(CLAIMS):
        now = datetime.now(UTC)
        started = time.perf_counter()
        job = await store.claim_due(now, lease_until=now + timedelta(seconds=60))
        times.append((time.perf_counter() - started) * 1000)
        assert job is not None
    return median(times)


async def _measure_claims(work: Path) -> dict[int, float]:
    results = {}
    filled = 0
    store = SqliteJobStore(work / "claims.db", work / "claims-spool")
    await store.open()
    try:
        for size in SIZES:
            await _fill(store, size - filled, filled)
            filled = size
            snapshot = work / f"snap-{size}.db"
            await asyncio.to_thread(_copy_db, work / "claims.db", snapshot)
            probe = SqliteJobStore(snapshot, work / "claims-spool")
            await probe.open()
            results[size] = await _claim_times(probe)
            await probe.close()
    finally:
        await store.close()
    return results


def _copy_db(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-queue-") as tmp:
        work = Path(tmp)
        claims = asyncio.run(_measure_claims(work))
        # The 10,000-job database becomes the data directory of a serve whose provider is down.
        data = work / "serve" / "var"
        data.mkdir(parents=True)
        _copy_db(work / "snap-10000.db", data / "faxbridge.db")
        with sqlite3.connect(data / "faxbridge.db") as conn:
            conn.execute("UPDATE jobs SET state = 'queued' WHERE state = 'submitting'")
        shutil.copytree(work / "claims-spool", data / "spool")
        port = free_port()
        serve = start_serve(data, f"http://127.0.0.1:{port}", cover="none", poll_seconds="2")
        try:
            time.sleep(10)
            rss_mib = rss_kib(serve.pid) / 1024
            queued = _counts(data / "faxbridge.db").get("queued", 0)
            # The provider comes back on the port the bridge has been trying.
            sandbox = start_sandbox(port=port, delay=0.5)
            started = time.perf_counter()
            deadline = started + 240  # long enough to measure the drain rate
            while time.perf_counter() < deadline:
                counts = _counts(data / "faxbridge.db")
                if counts.get("queued", 0) + counts.get("submitting", 0) == 0:
                    break
                time.sleep(1)
            drain_seconds = time.perf_counter() - started
            left = _counts(data / "faxbridge.db")
            sandbox.stop()
        finally:
            serve.stop()
    waiting = left.get("queued", 0) + left.get("submitting", 0)
    drained = waiting == 0
    sent = SIZES[-1] - waiting
    figures = {
        "queued_jobs": SIZES[-1],
        "queued_seen_while_down": queued,
        "rss_mib_with_10000_queued": round(rss_mib, 1),
        "claim_ms_median": {str(size): round(ms, 2) for size, ms in claims.items()},
        "claim_ratio_10000_to_100": round(claims[SIZES[-1]] / claims[SIZES[0]], 2),
        "drained": drained,
        "drain_seconds": round(drain_seconds, 1),
        "handed_to_provider": sent,
        "drain_per_second": round(sent / drain_seconds, 1),
        "targets": "RSS under 200 MB; claim time flat from 100 to 10,000; backlog drains",
    }
    show(
        "Queue at scale (10,000 jobs, provider down, then back)",
        [
            ("RSS with 10,000 queued", f"{rss_mib:.1f} MiB (target < 200)"),
            *[(f"claim next job, {size:>6} queued", f"{ms:.2f} ms median") for size, ms in claims.items()],
            ("claim time 10,000 / 100", f"{claims[SIZES[-1]] / claims[SIZES[0]]:.2f} (flat is 1.0)"),
            (
                "backlog after the provider returned",
                f"{sent} of {SIZES[-1]} sent in {drain_seconds:.0f} s ({sent / drain_seconds:.1f}/s)",
            ),
        ],
    )
    write_result("queue", figures)
    return figures


if __name__ == "__main__":
    run()
