"""The SMTP listener: aiosmtpd's server in the running event loop (no threaded Controller).

SIZE from FAXBRIDGE_MAX_MESSAGE_BYTES, SMTPUTF8, STARTTLS when a certificate is set, AUTH when a
login is set (only after STARTTLS, or on a loopback-only listener); closing lets mails being
stored finish before the sessions end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
import weakref
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from adapters.email.intake import SmtpIntake
from adapters.email.sender_auth import TxtLookup
from bridge.errors import ConfigError
from bridge.service import FaxService
from bridge.settings import Settings

__all__ = ["SmtpServer", "start_smtp"]

log = logging.getLogger("faxbridge.email")
CLOSE_GRACE_SECONDS = 10.0


class _IntakeSMTP(SMTP):
    """aiosmtpd's server with its own size refusals given the enhanced code of interface.md."""

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            status = f"552 5.3.4 the message is larger than {self.data_size_limit} bytes, the most accepted"
        await super().push(status)


@dataclass
class SmtpServer:
    """The listening intake: its socket server, its handler and the open sessions."""

    server: asyncio.Server
    handler: SmtpIntake
    sessions: weakref.WeakSet[SMTP]

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

    def factory() -> SMTP:
        smtp = _IntakeSMTP(
            handler,
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
    intake = SmtpServer(server=server, handler=handler, sessions=sessions)
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
