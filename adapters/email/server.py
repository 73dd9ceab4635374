"""The SMTP listener: aiosmtpd's server in the running event loop (no threaded Controller).

SIZE from FAXBRIDGE_MAX_MESSAGE_BYTES, SMTPUTF8, STARTTLS when a certificate is set, AUTH when a
login is set (only after STARTTLS, or on a loopback-only listener); closing lets mails being
stored finish before the sessions end. DATA is streamed to a file in the request's scratch
folder (adapters.email.data), never held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from adapters.email.data import DataDecoder, read_data
from adapters.email.intake import SmtpIntake
from adapters.email.sender_auth import TxtLookup
from bridge.errors import ConfigError
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.spooling import Scratch, Spooled, SpoolWriter

__all__ = ["SmtpServer", "start_smtp"]

log = logging.getLogger("faxbridge.email")
CLOSE_GRACE_SECONDS = 10.0
# A message up to this size is kept in memory and handed to the worker pool as it is; a bigger
# one goes to a file as it arrives, written in slices of this size off the event loop.
WRITE_BYTES = 1 << 20


class MailEnvelope(Envelope):
    """aiosmtpd's envelope, plus the streamed message (bytes, or its file) and the request's scratch folder."""

    def __init__(self) -> None:
        super().__init__()
        self.message: Spooled | bytes | None = None
        self.scratch: Scratch | None = None


class _IntakeSMTP(SMTP):
    """aiosmtpd's server with a streamed DATA phase and its size refusals given our SMTP codes (docs/email.md)."""

    def __init__(self, handler: Any, *, files: _Files, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._files = files

    def _create_envelope(self) -> Envelope:
        return MailEnvelope()

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            status = f"552 5.3.4 the message is larger than {self.data_size_limit} bytes, the most accepted"
        await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        """DATA as aiosmtpd answers it (same checks and codes), the message streamed to a file."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        scratch = Scratch(self._files.root)  # made on disk only when something is written there
        try:
            status = await self._receive(scratch)
        finally:
            # The store links what it keeps; the scratch copies go, whatever happened.
            self._files.later(scratch.remove)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    async def _receive(self, scratch: Scratch) -> str:
        decoder = DataDecoder(self.data_size_limit, self.line_length_limit)
        writer: SpoolWriter | None = None
        pending: list[bytes] = []
        size = 0
        ended = False
        try:
            while not ended:
                data, ended = await read_data(self._reader, decoder)
                if data and not decoder.refused:
                    pending.append(data)
                    size += len(data)
                if size >= WRITE_BYTES:
                    writer = writer or await self._files.run(_open, scratch)
                    await self._files.run(_write, writer, pending)
                    pending, size = [], 0
            if decoder.refused:
                if writer is not None:
                    self._files.later(writer.discard)
                return (
                    "500 Line too long (see RFC5321 4.5.3.1.6)"
                    if decoder.too_long
                    else "552 Error: Too much mail data"
                )
            message: Spooled | bytes = (
                b"".join(pending) if writer is None else await self._files.run(_finish, writer, pending)
            )
        except BaseException:
            if writer is not None:
                self._files.later(writer.discard)
            raise
        envelope = self.envelope
        assert isinstance(envelope, MailEnvelope)
        envelope.message, envelope.scratch = message, scratch
        status = await self._call_handler_hook("DATA")
        return "250 OK" if status is MISSING else str(status)


def _open(scratch: Scratch) -> SpoolWriter:
    scratch.make()
    return scratch.writer("eml")


def _write(writer: SpoolWriter, pending: list[bytes]) -> None:
    for data in pending:
        writer.write(data)


def _finish(writer: SpoolWriter, pending: list[bytes]) -> Spooled:
    _write(writer, pending)
    return writer.done()


@dataclass
class _Files:
    """The intake's file work (scratch folders, the received message), on its own threads."""

    root: Path
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="faxbridge-intake")
    )
    _later: set[asyncio.Future[Any]] = field(default_factory=set)

    async def run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def later(self, function: Any, *args: Any) -> None:
        """Start it and do not wait (also from a cancelled task, whose awaits would not run)."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, function, *args)
        self._later.add(future)
        future.add_done_callback(self._later.discard)

    async def close(self) -> None:
        if self._later:
            await asyncio.gather(*self._later, return_exceptions=True)
        self.executor.shutdown(wait=True)


@dataclass
class SmtpServer:
    """The listening intake: its socket server, its handler and the open sessions."""

    server: asyncio.Server
    handler: SmtpIntake
    sessions: weakref.WeakSet[SMTP]
    files: _Files

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, let mails being stored finish, then end the remaining sessions."""
        self.server.close()
        await self.handler.wait_idle(CLOSE_GRACE_SECONDS)
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1.0)
        await self.files.close()
        log.info("smtp: intake closed")


async def start_smtp(
    service: FaxService,
    settings: Settings,
    *,
    port: int | None = None,
    dkim_lookup: TxtLookup | None = None,
) -> SmtpServer:
    """Listen on FAXBRIDGE_SMTP_HOST/_PORT in the running loop (port 0 picks a free one)."""
    problem = settings.plaintext_auth_problem()
    if problem:
        raise ConfigError(problem)
    loop = asyncio.get_running_loop()
    handler = SmtpIntake(service, settings, dkim_lookup=dkim_lookup)
    tls = _tls_context(settings)
    auth = bool(settings.smtp_auth_username)
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
    files = _Files(root=settings.incoming_dir)

    def factory() -> SMTP:
        smtp = _IntakeSMTP(
            handler,
            files=files,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            hostname=settings.fax_domain,
            ident="faxbridge ESMTP",
            tls_context=tls,
            # With a certificate, AUTH is offered only after STARTTLS. Without one the listener is
            # loopback-only (plaintext_auth_problem), so the password never crosses a network.
            auth_require_tls=tls is not None,
            authenticator=_authenticator(settings) if auth else None,
            loop=loop,
        )
        sessions.add(smtp)
        return smtp

    server = await loop.create_server(
        factory, host=settings.smtp_host, port=settings.smtp_port if port is None else port
    )
    intake = SmtpServer(server=server, handler=handler, sessions=sessions, files=files)
    log.info(
        "smtp: listening on %s:%d for <number>@%s (SIZE %d%s%s)",
        settings.smtp_host,
        intake.port,
        settings.fax_domain,
        settings.max_message_bytes,
        ", STARTTLS" if tls else "",
        ", AUTH" if auth else "",
    )
    return intake


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not (settings.smtp_tls_cert and settings.smtp_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.smtp_tls_cert, settings.smtp_tls_key)
    return context


def _authenticator(settings: Settings) -> Any:
    expected_user = settings.smtp_auth_username.encode()
    expected_password = settings.smtp_auth_password.encode()

    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(data.login, expected_user) & hmac.compare_digest(
            data.password, expected_password
        )
        return AuthResult(success=bool(ok), handled=False)

    return check
