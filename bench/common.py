"""What the benchmarks share: processes on loopback, mails, RSS sampling, result files."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results"
FAX_DOMAIN = "fax.bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env.update(extra)
    return env


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


class Sandbox:
    """`faxbridge sandbox` in its own process."""

    def __init__(
        self, *, port: int | None = None, heavy_limit: int = 100_000, window: float = 60.0, delay: float = 0.2
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--port", str(self.port), "--heavy-limit", str(heavy_limit), "--window", str(window)]
        args += [
            "--light-limit",
            "100000",
            "--auth-limit",
            "100000",
            "--delay",
            str(delay),
            "--penalty",
            str(window),
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "sandbox", *args],
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: httpx.get(f"{self.url}/_standin", timeout=1).status_code == 200, 30, "the stand-in")

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_standin/requests", timeout=30).json()["records"])

    def message_count(self) -> int:
        return int(httpx.get(f"{self.url}/_standin", timeout=30).json()["messages"])

    def stop(self) -> None:
        stop(self.process)


class Serve:
    """`faxbridge serve` in its own process, on a fresh data directory.

    With a provider URL it sends to that RingCentral stand-in; with None it runs as a user who
    changes nothing does (demo mode: its own stand-in on its demo plan, generated covers).
    """

    def __init__(self, data_dir: Path, provider_url: str | None, **settings: str) -> None:
        self.smtp_port = free_port()
        self.http_port = free_port()
        env = clean_env(
            FAXBRIDGE_DATA_DIR=str(data_dir),
            FAXBRIDGE_SMTP_PORT=str(self.smtp_port),
            FAXBRIDGE_HTTP_PORT=str(self.http_port),
            FAXBRIDGE_FAX_DOMAIN=FAX_DOMAIN,
            FAXBRIDGE_LOG_FORMAT="text",
        )
        if provider_url is not None:
            env.update(
                FAXBRIDGE_ALLOWED_SENDERS="@example.com",
                # A separate process cannot be handed a DNS table for DKIM keys; `python -m bench dkim`
                # measures the cost of the default DKIM check on its own.
                FAXBRIDGE_SENDER_AUTH="none",
                FAXBRIDGE_PROVIDER="ringcentral",
                FAXBRIDGE_RINGCENTRAL_SERVER_URL=provider_url,
                FAXBRIDGE_RINGCENTRAL_CLIENT_ID="bench",
                FAXBRIDGE_RINGCENTRAL_CLIENT_SECRET="bench-secret",
                FAXBRIDGE_RINGCENTRAL_JWT="bench-jwt",
            )
        env.update({f"FAXBRIDGE_{k.upper()}": v for k, v in settings.items()})
        self.log = data_dir.parent / f"serve-{self.http_port}.log"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapters.cli", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1).status_code == 200,
            60,
            "faxbridge serve",
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def rss_kib(pid: int) -> int:
    try:
        match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    except OSError:  # the process has just ended
        return 0
    return int(match.group(1)) if match else 0


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
