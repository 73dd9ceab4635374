"""What the benchmarks share beyond tests/helpers: the bridge as they run it, mails, RSS sampling, result files."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.helpers.environment import clean_env
from tests.helpers.ports import free_port, listening
from tests.helpers.processes import Sandbox, Serve, rss_kib, standin_settings, stop_process
from tests.helpers.waiting import wait_for

RESULTS = Path(__file__).parent / "results"
FAX_DOMAIN = "fax.bench"


def pdf_of_size(size: int) -> bytes:
    """A valid one-page PDF of about `size` bytes: random (incompressible) bytes ride along as an attachment."""
    import io

    from pypdf import PdfReader, PdfWriter

    from bridge.testing import sample_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(sample_pdf(1))))
    writer.add_attachment("padding.bin", os.urandom(max(0, size - 2048)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def fax_mail(index: int, attachment: bytes, *, to: str = "12025550123") -> bytes:
    message = EmailMessage()
    message["From"] = "bench@example.com"
    message["To"] = f"{to}@{FAX_DOMAIN}"
    message["Subject"] = f"Bench {index}"
    message["Message-ID"] = f"<bench-{index}-{time.time_ns()}@example.com>"
    message.set_content(f"Benchmark mail {index}.")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename=f"doc{index}.pdf")
    raw = message.as_bytes()
    return re.sub(rb"\r?\n", b"\r\n", raw)


def start_sandbox(
    *, port: int | None = None, heavy_limit: int = 100_000, window: float = 60.0, delay: float = 0.2
) -> Sandbox:
    """A running stand-in whose only tight limit, if any, is the fax-send one asked for."""
    return Sandbox(
        port=port, heavy_limit=heavy_limit, other_limits=100_000, window=window, delay=delay, penalty=window
    )


def start_serve(data_dir: Path, provider_url: str | None, **settings: str) -> Serve:
    """A running `faxbridge serve` on a fresh data directory.

    With a provider URL it sends to that RingCentral stand-in; with None it runs as a user who
    changes nothing does (demo mode: its own stand-in on its demo plan, generated covers).
    """
    wired = {"fax_domain": FAX_DOMAIN, "log_format": "text"}
    if provider_url is not None:
        wired |= {
            "allowed_senders": "@example.com",
            # A separate process cannot be handed a DNS table for DKIM keys; `python -m bench dkim`
            # measures the cost of the default DKIM check on its own.
            "sender_auth": "none",
            **standin_settings(provider_url, "bench"),
        }
    serve = Serve(data_dir, data_dir.parent / "serve.log", **{**wired, **settings})
    serve.start()
    return serve


class BareSmtpd:
    """The baseline: `bench.bare_smtpd` (aiosmtpd that only writes and fsyncs) in its own process."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_smtpd", "--port", str(self.port), "--dir", str(folder)],
            env=clean_env(),
        )
        wait_for(lambda: listening(self.port), 30, "the bare aiosmtpd server")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def descendants(pid: int) -> list[int]:
    """The process's children, grandchildren and so on (serve's worker pool lives there)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            todo.extend(children)
    return found


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants, added up (shared pages counted in each)."""
    return rss_kib(pid) + sum(rss_kib(child) for child in descendants(pid))


@dataclass
class PeakRss:
    """Samples a process's RSS every few milliseconds in a thread; `peak` is the highest seen.

    `tree` adds its descendants in (serve's worker processes): `peak_tree`.
    """

    pid: int
    interval: float = 0.005
    tree: bool = False
    peak: int = 0
    peak_tree: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> PeakRss:
        self.peak = rss_kib(self.pid)
        self.peak_tree = tree_rss_kib(self.pid) if self.tree else 0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            if self.tree:
                self.peak_tree = max(self.peak_tree, tree_rss_kib(self.pid))
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def write_result(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def show(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
