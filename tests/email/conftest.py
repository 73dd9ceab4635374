"""Fixtures for the email adapter: a real core on a temporary store, the SMTP intake on a free
loopback port, real clients, and a capturing SMTP server standing in for the reply relay."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.wiring import Bridge, build_bridge
from adapters.email import EmailReplier, start_smtp
from adapters.email.sender_auth import TxtLookup
from adapters.email.server import SmtpServer
from bridge.model import Channel, Job
from bridge.ports import Replier
from bridge.settings import Settings
from bridge.states import JobState
from bridge.testing import FakeProvider, RecordingReplier
from tests.conftest import Clock
from tests.email.signing import DkimKey, make_key
from tests.helpers.relays import CaptureRelay

CORPUS = Path(__file__).parent.parent / "data" / "mail"
FAX = "12025550123@fax.localhost"
SENDER = "ann@example.com"


def corpus(name: str) -> bytes:
    return (CORPUS / f"{name}.eml").read_bytes()


def mail(
    body: str = "Please fax this.",
    *,
    subject: str = "Test",
    sender: str = SENDER,
    to: str = FAX,
    message_id: str | None = "<test-1@example.com>",
    attachments: Sequence[tuple[str, bytes, str]] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    """A simple mail built with the standard library, with attachments as (name, bytes, type)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    for name, data, content_type in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes(policy=policy.SMTP)


@dataclass
class Answer:
    """What the server said at each step of one SMTP transaction."""

    mail: tuple[int, str]
    rcpts: list[tuple[int, str]]
    data: tuple[int, str] | None

    @property
    def code(self) -> int:
        """The answer that decided the mail's fate: DATA's, or the first refusal before it."""
        if self.mail[0] >= 400:
            return self.mail[0]
        if self.data is None:
            return next(code for code, _ in self.rcpts if code >= 400)
        return self.data[0]

    @property
    def text(self) -> str:
        if self.mail[0] >= 400:
            return self.mail[1]
        if self.data is None:
            return next(text for code, text in self.rcpts if code >= 400)
        return self.data[1]

    @property
    def job_ids(self) -> list[str]:
        assert self.data is not None and self.data[0] == 250, self
        return self.data[1].split("queued as ", 1)[1].split()


def smtplib_send(
    port: int,
    raw: bytes,
    rcpts: Sequence[str] = (FAX,),
    sender: str = SENDER,
    mail_options: Sequence[str] = (),
    login: tuple[str, str] | None = None,
    starttls: bool = False,
) -> Answer:
    """One transaction with Python's smtplib, step by step so every answer is kept."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example.com")
        if starttls:
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo("client.example.com")
        if login:
            client.login(*login)
        mail_answer = client.mail(sender, list(mail_options))
        rcpt_answers = [client.rcpt(r) for r in rcpts] if mail_answer[0] < 400 else []
        data = None
        if rcpt_answers and any(code < 400 for code, _ in rcpt_answers):
            data = client.data(raw)
        else:
            client.rset()
    return Answer(
        mail=(mail_answer[0], mail_answer[1].decode()),
        rcpts=[(c, t.decode()) for c, t in rcpt_answers],
        data=None if data is None else (data[0], data[1].decode()),
    )


@dataclass
class Harness:
    """A real core (SQLite store on tmp) with the SMTP intake listening on a free loopback port."""

    bridge: Bridge
    server: SmtpServer
    provider: FakeProvider
    replier: Replier
    settings: Settings

    @property
    def port(self) -> int:
        return self.server.port

    async def send(
        self, raw: bytes, rcpts: Sequence[str] = (FAX,), sender: str = SENDER, **kw: Any
    ) -> Answer:
        return await asyncio.to_thread(smtplib_send, self.port, raw, rcpts, sender, **kw)

    async def jobs(self, state: JobState | None = None) -> list[Job]:
        return await self.bridge.store.list_jobs(state=state, limit=1000)

    async def job(self, job_id: str) -> Job:
        return await self.bridge.store.get(job_id)

    async def run(self) -> None:
        """Dispatch, track and tell, as the background workers would."""
        await self.bridge.dispatcher.run_until_idle()
        await self.bridge.tracker.check()
        await self.bridge.pump.deliver_due()


def email_settings(tmp_path: Path, **overrides: str) -> Settings:
    return Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "smtp_host": "127.0.0.1",
            "smtp_port": "0",
            "fax_domain": "fax.localhost",
            "retry_delay_seconds": "60",
            "reply_retry_seconds": "10",
            **overrides,
        }
    )


@pytest.fixture
async def make_harness(tmp_path: Path, clock: Clock) -> AsyncIterator[Any]:
    """Build harnesses with chosen settings and replier; each is closed after the test."""
    made: list[Harness] = []

    async def make(
        *, email_replies: bool = False, dkim_lookup: TxtLookup | None = None, **overrides: str
    ) -> Harness:
        settings = email_settings(tmp_path / f"h{len(made)}", **overrides)
        provider = FakeProvider()
        chosen: Replier = EmailReplier(settings, clock=clock) if email_replies else RecordingReplier()
        bridge = await build_bridge(
            settings, provider=provider, clock=clock, repliers={Channel.EMAIL: chosen}
        )
        server = await start_smtp(bridge.service, settings, port=0, dkim_lookup=dkim_lookup)
        harness = Harness(bridge=bridge, server=server, provider=provider, replier=chosen, settings=settings)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.server.close()
        await harness.bridge.close()


@pytest.fixture
async def harness(make_harness: Any) -> Harness:
    """The default harness: demo policy (any sender), recording replier."""
    made: Harness = await make_harness()
    return made


# -- a capturing SMTP server for reply mails -----------------------------------------------------


@pytest.fixture
async def relay() -> AsyncIterator[CaptureRelay]:
    """A running capturing relay."""
    server = CaptureRelay()
    await server.start()
    yield server
    await server.stop()


# -- DKIM ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    """One RSA key for the session: generating it takes a moment."""
    return make_key(tmp_path_factory.mktemp("dkim"))
