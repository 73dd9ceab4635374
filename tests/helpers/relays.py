"""A capturing SMTP relay on loopback: it keeps every mail it is given, and can be down, then started late.

`CaptureRelay` serves in the test's own event loop; `BackgroundRelay` serves the same from a thread,
for tests that drive a `faxbridge serve` process and block while they wait.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.helpers.loops import LoopThread
from tests.helpers.ports import free_port

# The Message-ID the bridge gives its status mails: <faxbridge.JOB.receipt|report...>.
REPLY_ID = re.compile(r"<faxbridge\.([0-9a-f]+)\.(receipt|report)")


@dataclass
class Captured:
    """One mail as the relay received it."""

    sender: str
    rcpts: list[str]
    message: EmailMessage


@dataclass
class CaptureHandler:
    """aiosmtpd handler that keeps each mail; it can refuse every recipient instead."""

    mails: list[Captured] = field(default_factory=list)
    refuse_rcpt: bool = False
    hold: float = 0.0  # seconds a mail's DATA is held before it is taken (a slow relay)
    holding: int = 0  # mails held now

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hold and not await self._held(server):
            return "421 4.4.2 the sender went away"  # never answered: nothing is kept
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(
            Captured(sender=str(envelope.mail_from), rcpts=list(envelope.rcpt_tos), message=parsed)
        )
        return "250 OK captured"

    async def _held(self, server: SMTP) -> bool:
        """Wait until the hold is lifted or its time is up; False when the sender went away meanwhile."""
        self.holding += 1
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + self.hold
            while self.hold and loop.time() < end:
                transport = server.transport
                if transport is None or transport.is_closing():
                    return False
                await asyncio.sleep(0.05)
            return True
        finally:
            self.holding -= 1


class CaptureRelay:
    """An SMTP server on loopback that keeps every mail it is given, in the running event loop."""

    def __init__(self, port: int | None = None, *, login: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.handler = CaptureHandler()
        self.login = login
        self.logins: list[bytes] = []
        self._server: asyncio.Server | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.login
        if ok:
            self.logins.append(data.login)
        return AuthResult(success=ok)

    @property
    def mails(self) -> list[Captured]:
        return self.handler.mails

    def smtp_options(self) -> dict[str, Any]:
        """Keyword arguments of each connection's aiosmtpd SMTP; a relay with TLS adds its context."""
        if not self.login:
            return {}
        # Plain-text AUTH is fine on loopback in a test; a real relay offers it after STARTTLS.
        return {"authenticator": self._authenticate, "auth_require_tls": False, "auth_required": False}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        options = self.smtp_options()
        self._server = await loop.create_server(
            lambda: SMTP(self.handler, hostname="relay.localhost", loop=loop, **options),
            "127.0.0.1",
            self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def replies(self) -> dict[tuple[str, str], int]:
        """(job id, receipt|report) -> how many distinct status mails said it."""
        seen: dict[tuple[str, str], set[str]] = {}
        for mail in self.mails:
            match = REPLY_ID.search(str(mail.message["Message-ID"]))
            if match:
                seen.setdefault((match.group(1), match.group(2)), set()).add(str(mail.message["Message-ID"]))
        return {key: len(ids) for key, ids in seen.items()}

    def raw_count(self, job_id: str, kind: str) -> int:
        """How many mails, copies included, carried this job's receipt or report."""
        return sum(1 for m in self.mails if f"faxbridge.{job_id}.{kind}" in str(m.message["Message-ID"]))


class BackgroundRelay:
    """A `CaptureRelay` serving from its own thread; `start` and `stop` block, and it can start again."""

    def __init__(self) -> None:
        self.relay = CaptureRelay()
        self.port = self.relay.port
        self._thread: LoopThread | None = None

    @property
    def mails(self) -> list[Captured]:
        return self.relay.mails

    def start(self) -> None:
        if self._thread is None:
            self._thread = LoopThread("capture-relay")
        self._thread.call(self.relay.start())

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.call(self.relay.stop())
            self._thread.close()
            self._thread = None

    def replies(self) -> dict[tuple[str, str], int]:
        return self.relay.replies()

    def raw_count(self, job_id: str, kind: str) -> int:
        return self.relay.raw_count(job_id, kind)


def relay_settings(port: int) -> dict[str, str]:
    """Settings that send status mails to a plain relay on this loopback port."""
    return {"smtp_relay_host": "127.0.0.1", "smtp_relay_port": str(port), "smtp_relay_starttls": "false"}
