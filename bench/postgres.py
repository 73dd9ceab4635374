"""Several bridges on one PostgreSQL: claim latency with 100,000 queued jobs, intake with one and two
instances, and the shared rate limit of two instances against a stand-in counting a sliding window.

The PostgreSQL server is a private one started for the run (initdb and pg_ctl into a temporary
directory, as the tests do). Rate-limit figures are measured at the stand-in: when each fax POST
arrived there, and how many it refused with 429.
"""

from __future__ import annotations

import asyncio
import smtplib
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.postgres import PostgresJobStore
from bench.common import (
    FAX_DOMAIN,
    fax_mail,
    median,
    pdf_of_size,
    show,
    start_sandbox,
    start_serve,
    wait_for,
    write_result,
)
from tests.helpers.postgres import PostgresServer, running_postgres

QUEUED = (100, 100_000)
CLAIMS = 100
INTAKE_MAILS = 120
SENDERS = 4
RATE_FAXES = 40
LIMIT, WINDOW = 10, 6.0


def _fill_sql(count: int, start: int) -> str:
    # One request (batch) whose jobs each go to their own number: claims are not held back per number.
    return f"""
    INSERT INTO batches (id, created, origin) VALUES ('bench{start}', now(), '{{"channel": "cli", "sender": "bench"}}')
        ON CONFLICT DO NOTHING;
    INSERT INTO jobs (id, batch_id, state, to_number, created, updated, due_at)
        SELECT 'j' || n, 'bench{start}', 'queued', '+1202' || lpad(n::text, 7, '0'), now(), now(), now() - interval '1 minute'
        FROM generate_series({start}, {start + count - 1}) AS n;
    ANALYZE jobs;
    """


async def _claim_median(url: str, root: Path) -> float:
    store = PostgresJobStore(url, root / "spool")
    await store.open()
    try:
        times = []
        for _ in range(CLAIMS):
            now = datetime.now(UTC)
            started = time.perf_counter()
            job = await store.claim_due(now, lease_until=now + timedelta(seconds=60))
            times.append((time.perf_counter() - started) * 1000)
            assert job is not None
        return median(times)
    finally:
        await store.close()


def claims(server: PostgresServer, root: Path) -> dict[int, float]:
    """Median ms to claim the next due job (a committed transaction) with each number of jobs queued."""
    url = server.create_database("claims")
    asyncio.run(PostgresJobStore(url, root / "spool").open())  # migrate
    results, filled = {}, 0
    for size in QUEUED:
        # The claims of each round took jobs: top the queue up to `size` queued ones again.
        server.psql(_fill_sql(size - filled + CLAIMS, filled), database=url.rsplit("/", 1)[1])
        filled += size - filled + CLAIMS
        results[size] = asyncio.run(_claim_median(url, root))
    return results


def _send_all(ports: list[int], mails: int, *, to_each: bool = False) -> float:
    """Send `mails` mails with SENDERS parallel clients, spread over the bridges; return seconds taken."""
    attachment = pdf_of_size(20 * 1024)
    errors: list[str] = []

    def sender(worker: int) -> None:
        for index in range(worker, mails, SENDERS):
            port = ports[index % len(ports)]
            to = f"1202555{index % 10_000:04d}" if to_each else "12025550123"
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                    client.sendmail(
                        "bench@example.com", [f"{to}@{FAX_DOMAIN}"], fax_mail(index, attachment, to=to)
                    )
            except (OSError, smtplib.SMTPException) as exc:
                errors.append(str(exc))

    started = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(w,)) for w in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} mails refused, first: {errors[0]}")
    return time.perf_counter() - started


def intake(server: PostgresServer, root: Path, instances: int) -> float:
    """Mails a second accepted (250, committed to PostgreSQL) by `instances` bridges together."""
    sandbox = start_sandbox(delay=0.2)
    url = server.create_database(f"intake{instances}")
    bridges = [
        start_serve(root / f"intake{instances}-{i}" / "var", sandbox.url, cover="none", database_url=url)
        for i in range(instances)
    ]
    try:
        seconds = _send_all([b.smtp_port for b in bridges], INTAKE_MAILS)
    finally:
        for bridge in bridges:
            bridge.stop()
        sandbox.stop()
    return INTAKE_MAILS / seconds


def rate_limit(root: Path, instances: int, url: str | None) -> dict[str, Any]:
    """RATE_FAXES faxes to as many numbers, all queued at once, through `instances` bridges (SQLite when
    alone and `url` is None, else on PostgreSQL), against a stand-in allowing LIMIT per sliding WINDOW."""
    sandbox = start_sandbox(heavy_limit=LIMIT, window=WINDOW, delay=0.2)
    bridges = [
        start_serve(
            root / f"rate{instances}-{i}" / "var",
            sandbox.url,
            cover="none",
            poll_seconds="1",
            **({"database_url": url} if url else {}),
        )
        for i in range(instances)
    ]
    try:
        _send_all([b.smtp_port for b in bridges], RATE_FAXES, to_each=True)
        wait_for(lambda: sandbox.message_count() >= RATE_FAXES, 300, "every fax at the stand-in")
        records = [r for r in sandbox.requests() if r["path"].endswith("/fax") and r["method"] == "POST"]
    finally:
        for bridge in bridges:
            bridge.stop()
        sandbox.stop()
    accepted = sorted(float(r["at"]) for r in records if r["status"] == 200)
    refused = sum(1 for r in records if r["status"] == 429)
    gap = WINDOW / LIMIT
    # The limit allows RATE_FAXES in RATE_FAXES / LIMIT windows; the bridges took from the first send to
    # the last, plus the last one's share of a window.
    allowed = RATE_FAXES * gap
    taken = accepted[-1] - accepted[0] + gap
    return {
        "instances": instances,
        "store": "postgresql" if url else "sqlite",
        "faxes": RATE_FAXES,
        "seconds_taken": round(taken, 2),
        "seconds_the_limit_allows": allowed,
        "share_of_limit": round(allowed / taken, 3),
        "http_429_answers": refused,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-pg-") as tmp, running_postgres() as server:
        root = Path(tmp)
        claim_ms = claims(server, root)
        one = intake(server, root, 1)
        two = intake(server, root, 2)
        rates = [
            rate_limit(root, 1, None),
            rate_limit(root, 2, server.create_database("rate")),
        ]
    figures = {
        "claim_ms_median": {str(k): round(v, 2) for k, v in claim_ms.items()},
        "intake_mails_per_second": {"one_instance": round(one, 1), "two_instances": round(two, 1)},
        "rate_limit": rates,
        "targets": "claims flat at 100,000 queued; rate limit >= 95% with 0 429s, measured at the stand-in",
    }
    rows = [(f"claim, {k:,} queued", f"{v:.2f} ms (median of {CLAIMS})") for k, v in claim_ms.items()]
    rows += [("intake, one bridge", f"{one:.1f} mails/s"), ("intake, two bridges", f"{two:.1f} mails/s")]
    rows += [
        (
            f"rate limit, {r['instances']} bridge(s) on {r['store']}",
            f"{r['share_of_limit']:.1%} of the limit ({r['seconds_taken']} s for {RATE_FAXES}, the limit"
            f" allows {r['seconds_the_limit_allows']:.0f} s), {r['http_429_answers']} x 429",
        )
        for r in rates
    ]
    show("Several bridges on PostgreSQL", rows)
    write_result("postgres", figures)
    return figures


if __name__ == "__main__":
    run()
