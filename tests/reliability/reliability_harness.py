"""Real processes for the reliability suite: a stand-in, a `faxbridge serve`, a capturing relay, an MTA-like sender."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from bridge.testing import sample_pdf

FAX_DOMAIN = "fax.test"
FINAL = {"delivered", "failed", "cancelled", "rejected"}
REPLY_ID = re.compile(r"<faxbridge\.([0-9a-f]+)\.(receipt|report)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env.update(extra)
    return env


class Sandbox:
    """`faxbridge sandbox` in its own process, inspected through its /_standin admin routes."""

    def __init__(
        self,
        tmp: Path,
        *,
        heavy_limit: int = 10_000,
        other_limits: int = 10_000,
        window: float = 60,
        delay: float = 0.2,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # RingCentral's real limits (Auth: 5 logins a minute) would make a crash loop about rate limits instead.
        args = ["--port", str(self.port), "--heavy-limit", str(heavy_limit), "--window", str(window)]
        args += ["--light-limit", str(other_limits), "--auth-limit", str(other_limits)]
        args += ["--delay", str(delay), "--penalty", "2"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "sandbox", *args],
            env=_clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "sandbox.log", "w"),  # noqa: SIM115 - closed with the process
        )
        wait_for(self._up, 30, "the stand-in to listen")

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/_standin", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def messages(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_standin/messages", timeout=10).json()["records"])

    def message_count(self) -> int:
        return int(httpx.get(f"{self.url}/_standin", timeout=10).json()["messages"])

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_standin/requests", timeout=10).json()["records"])

    def fault(
        self, path: str, kind: str, *, times: int = 1, method: str = "POST", retry_after: float | None = None
    ) -> None:
        body: dict[str, Any] = {"path": path, "kind": kind, "times": times, "method": method}
        if retry_after is not None:
            body["retryAfter"] = retry_after
        httpx.post(f"{self.url}/_standin/faults", json=body, timeout=10).raise_for_status()

    def expire_tokens(self) -> None:
        httpx.post(f"{self.url}/_standin/tokens/expire", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Captured:
    messages: list[EmailMessage] = field(default_factory=list)
    hold: float = 0.0  # seconds a mail's DATA is held before the relay takes it (a slow relay)
    holding: int = 0  # mails held now

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold:
            # Held until the hold is lifted, its time is up, or the sender goes away (then nothing is kept).
            self.holding += 1
            try:
                end = asyncio.get_running_loop().time() + self.hold
                while self.hold and asyncio.get_running_loop().time() < end:
                    transport = getattr(server, "transport", None)
                    if transport is None or transport.is_closing():
                        return "421 4.4.2 gone"
                    await asyncio.sleep(0.05)
            finally:
                self.holding -= 1
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


class Relay:
    """A capturing SMTP relay on loopback for status mails; can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.captured = Captured()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.captured, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def replies(self) -> dict[tuple[str, str], int]:
        """(job id, receipt|report) -> how many distinct mails said it."""
        seen: dict[tuple[str, str], set[str]] = {}
        for message in self.captured.messages:
            match = REPLY_ID.search(str(message["Message-ID"]))
            if match:
                seen.setdefault((match.group(1), match.group(2)), set()).add(str(message["Message-ID"]))
        return {key: len(ids) for key, ids in seen.items()}

    def raw_count(self, job_id: str, kind: str) -> int:
        return sum(1 for m in self.captured.messages if f"faxbridge.{job_id}.{kind}" in str(m["Message-ID"]))


class BridgeProcess:
    """`faxbridge serve` against the stand-in, on one data directory across restarts."""

    def __init__(self, tmp: Path, sandbox: Sandbox, relay: Relay | None, **settings: str) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "var"
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.log = tmp / "serve.log"
        self.env = _clean_env(
            FAXBRIDGE_DATA_DIR=str(self.data_dir),
            FAXBRIDGE_PROVIDER="ringcentral",
            FAXBRIDGE_RINGCENTRAL_SERVER_URL=sandbox.url,
            FAXBRIDGE_RINGCENTRAL_CLIENT_ID="reliability",
            FAXBRIDGE_RINGCENTRAL_CLIENT_SECRET="reliability-secret",
            FAXBRIDGE_RINGCENTRAL_JWT="reliability-jwt",
            FAXBRIDGE_SMTP_PORT=str(self.smtp_port),
            FAXBRIDGE_HTTP_PORT=str(self.http_port),
            FAXBRIDGE_FAX_DOMAIN=FAX_DOMAIN,
            FAXBRIDGE_ALLOWED_SENDERS="@example.com",
            # These tests are about faults, not forgery: unsigned mail from the allowlist is trusted
            # (sender authentication has its own tests in tests/email).
            FAXBRIDGE_SENDER_AUTH="none",
            FAXBRIDGE_POLL_SECONDS="0.2",
            FAXBRIDGE_RETRY_DELAY_SECONDS="0.5",
            FAXBRIDGE_SUBMIT_TIMEOUT_SECONDS="3",
            FAXBRIDGE_PROVIDER_TIMEOUT_SECONDS="2",
            FAXBRIDGE_REPLY_RETRY_SECONDS="0.5",
            FAXBRIDGE_COVER="none",
        )
        if relay is not None:
            self.env.update(
                FAXBRIDGE_SMTP_RELAY_HOST="127.0.0.1",
                FAXBRIDGE_SMTP_RELAY_PORT=str(relay.port),
                FAXBRIDGE_SMTP_RELAY_STARTTLS="false",
            )
        self.env.update({f"FAXBRIDGE_{k.upper()}": v for k, v in settings.items()})
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, preexec: Callable[[], None] | None = None) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapters.cli", "serve"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=preexec,
            )
        self.starts += 1
        wait_for(self.healthy, 30, "serve to become healthy")

    def healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(
                f"serve exited with {self.process and self.process.returncode}: see {self.log}"
            )
        try:
            return httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, read straight from the database (WAL lets us read beside a writer)."""
        path = self.data_dir / "faxbridge.db"
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute(
                "SELECT jobs.id, state, to_number, provider_id, reason, idempotency_key,"
                " json_extract(batches.origin, '$.reply.message_id') AS message_id"
                " FROM jobs JOIN batches ON batches.id = jobs.batch_id"
            ).fetchall()
        finally:
            conn.close()
        return [dict(row) for row in rows]


@contextlib.contextmanager
def world(tmp: Path, *, delay: float) -> Iterator[tuple[Sandbox, Relay, BridgeProcess]]:
    """A stand-in, a capturing relay and a (not yet started) bridge wired to both; all stopped afterwards."""
    sandbox = Sandbox(tmp, delay=delay)
    relay = Relay()
    relay.start()
    bridge = BridgeProcess(tmp, sandbox, relay)
    try:
        yield sandbox, relay, bridge
    finally:
        bridge.stop()
        relay.stop()
        sandbox.stop()


def fax_mail(
    index: int, *, to: str = "12025550123", sender: str = "ann@example.com", pages: int = 1
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"{to}@{FAX_DOMAIN}"
    message["Subject"] = f"Referral {index}"
    message["Message-ID"] = f"<reliability-{index}@example.com>"
    message.set_content(f"Please see the referral {index}.")
    message.add_attachment(
        sample_pdf(pages, text=f"mail {index}"),
        maintype="application",
        subtype="pdf",
        filename=f"m{index}.pdf",
    )
    return message


def deliver(port: int, message: EmailMessage, *, deadline: float = 60.0) -> tuple[int, str]:
    """Send like an MTA: until the bridge answers 2xx or 5xx, retrying after 4xx and broken connections."""
    end = time.monotonic() + deadline
    last = (0, "never tried")
    while time.monotonic() < end:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.send_message(message)
                return 250, ""
        except smtplib.SMTPResponseException as exc:
            last = (exc.smtp_code, exc.smtp_error.decode(errors="replace"))
            if exc.smtp_code >= 500:
                return last
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            last = (code, text.decode(errors="replace"))
            if code >= 500:
                return last
        except (OSError, smtplib.SMTPException) as exc:
            last = (0, str(exc))
        time.sleep(0.1)
    return last


def send_once(port: int, message: EmailMessage) -> tuple[int, str]:
    """One SMTP attempt, as a client that reports the answer instead of retrying."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message)
            return 250, ""
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, exc.smtp_error.decode(errors="replace")
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return code, text.decode(errors="replace")


def fax_names(sandbox: Sandbox) -> dict[str, int]:
    """How many faxes at the provider carried each attachment name."""
    counts: dict[str, int] = {}
    for record in sandbox.messages():
        for part in record["parts"]:
            name = part.get("filename") or part.get("name") or ""
            if name.startswith("m") and name.endswith(".pdf"):
                counts[name] = counts.get(name, 0) + 1
    return counts


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:4000]
