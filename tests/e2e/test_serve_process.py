"""A real `faxbridge serve` process started as `make run` starts it (demo mode, a permissive umask):
its `/metrics` carries every metric the docs list, and nothing it wrote is readable by other users."""

from __future__ import annotations

import json
import os
import re
import smtplib
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.testing import sample_pdf
from tests.helpers.processes import Serve
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.slow  # a real serve process working through two faxes

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"


@dataclass
class Served:
    """What the module's one serve process left to look at."""

    data_dir: Path
    metrics: str
    refusal: tuple[int, bytes]
    inbox: list[dict[str, object]]
    received_log: str


def _run_like_make_run() -> None:
    os.umask(
        0o022
    )  # what a login shell usually has: files 0644 and directories 0755 unless the bridge sees to it


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    serve = Serve(tmp / "var", tmp / "serve.log", sandbox_delay_seconds="0.1", poll_seconds="0.2")
    metrics_url = f"http://127.0.0.1:{serve.http_port}/metrics"
    try:
        serve.start(preexec=_run_like_make_run, timeout=30)
        refusal = _mail(serve.smtp_port)
        document = tmp / "letter.pdf"
        document.write_bytes(sample_pdf(1))
        serve.run("send", "--to", "+12025550188", str(document), check=True, preexec_fn=_run_like_make_run)

        def settled() -> bool:
            text = httpx.get(metrics_url, timeout=5).text
            return 'faxbridge_jobs{state="delivered"} 2.0' in text and _notices_waiting(tmp / "var") == 0

        wait_for(settled, 60, "both faxes delivered and their replies told")
        # What a person trying the demo does next: make the demo's stand-in receive a fax.
        serve.run("sandbox", "receive", "--from", "+13125550123", str(document), check=True)

        def inbox() -> list[dict[str, object]]:
            return list(json.loads(serve.run("inbox", "--json", check=True).stdout))

        wait_for(lambda: len(inbox()) == 1, 60, "the received fax to be kept")
        yield Served(
            data_dir=tmp / "var",
            metrics=httpx.get(metrics_url, timeout=5).text,
            refusal=refusal,
            inbox=inbox(),
            received_log=serve.log.read_text(),
        )
    finally:
        serve.stop()


def _notices_waiting(data_dir: Path) -> int:
    """Status notices not yet delivered, read beside the running bridge (WAL allows it)."""
    conn = sqlite3.connect(f"file:{data_dir / 'faxbridge.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM replies WHERE done_at IS NULL").fetchone()[0])
    finally:
        conn.close()


def _mail(port: int) -> tuple[int, bytes]:
    """One mail to a good number and to a premium-rate one; return the refusal of the second RCPT."""
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["To"] = "12025550123@fax.localhost, 19005550123@fax.localhost"
    message["Subject"] = "Referral"
    message["Message-ID"] = "<serve-process-1@example.com>"
    message.set_content("Please see the referral.")
    message.add_attachment(sample_pdf(1), maintype="application", subtype="pdf", filename="r.pdf")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        refused = client.send_message(
            message, to_addrs=["12025550123@fax.localhost", "19005550123@fax.localhost"]
        )
    return refused["19005550123@fax.localhost"]


def _documented_metrics() -> list[str]:
    names = re.findall(r"^\| `(faxbridge_[a-z_]+)` \|", OPERATIONS.read_text(encoding="utf-8"), flags=re.M)
    assert len(names) >= 10, "the metrics table of docs/operations.md was not found"
    return names


def test_every_documented_metric_is_served(served: Served) -> None:
    """Each metric in docs/operations.md has samples on a real serve's /metrics after one day's work in small."""
    sampled = {
        sample.name for family in text_string_to_metric_families(served.metrics) for sample in family.samples
    }
    missing = [
        name for name in _documented_metrics() if not ({name, f"{name}_count", f"{name}_bucket"} & sampled)
    ]
    assert missing == []


def test_number_refused_at_rcpt_and_replies_are_counted(served: Served) -> None:
    """A premium-rate RCPT is refused and counted as an email refusal; status replies reach faxbridge_replies_total.

    Mutations caught: calling destination() at RCPT without the channel (the refusal goes uncounted),
    and building the reply pump without the process's metrics (faxbridge_replies_total stays empty).
    """
    code, text = served.refusal
    assert code == 550 and b"premium-rate" in text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(served.metrics)
        for sample in family.samples
    }
    refused = (("channel", "email"), ("outcome", "refused"), ("reason", "number"))
    assert samples[("faxbridge_intake_total", refused)] == 1
    assert samples[("faxbridge_replies_total", (("channel", "email"), ("outcome", "sent")))] >= 2
    assert samples[("faxbridge_replies_total", (("channel", "cli"), ("outcome", "sent")))] >= 2


def test_nothing_the_bridge_wrote_is_readable_by_others(served: Served) -> None:
    """Under umask 022, the data directory is 0700 and the lock, database, -wal, -shm and spool files are 0600."""
    found = {served.data_dir: stat.S_IMODE(served.data_dir.stat().st_mode)}
    for path in served.data_dir.rglob("*"):
        found[path] = stat.S_IMODE(path.lstat().st_mode)
    names = {p.name for p in found}
    assert {"serve.lock", "faxbridge.db", "faxbridge.db-wal", "faxbridge.db-shm", "spool"} <= names
    assert any(p.is_file() for p in (served.data_dir / "spool").rglob("*"))
    wide = {
        str(p.relative_to(served.data_dir.parent)): oct(mode) for p, mode in found.items() if mode & 0o077
    }
    assert wide == {}


def test_in_demo_mode_a_received_fax_shows_in_the_inbox_and_the_log(served: Served) -> None:
    """`faxbridge sandbox receive` against the demo: `inbox` lists the fax (no route: kept) and the log says so."""
    (fax,) = served.inbox
    assert fax["from"] == "+13125550123" and fax["pages"] == 1
    assert fax["deliveries"] == []
    assert "received fax" in served.received_log and "no route for" in served.received_log
