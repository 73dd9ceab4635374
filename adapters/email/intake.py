"""The SMTP intake: an aiosmtpd handler that refuses early and says 250 only once the jobs are stored.

It translates and asks the core: numbers and senders are judged by `FaxService`, the mail is
read by `adapters.email.mime`, and each outcome becomes its SMTP reply (docs/email.md, "SMTP answers").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from anyascii import anyascii

from adapters.email.mime import Limits, MailTooLarge, ParsedMail, UnreadableMail, read_mail
from adapters.email.sender_auth import TxtLookup, verify_sender
from bridge.errors import (
    NothingToFax,
    NumberRefused,
    RequestRejected,
    SenderRefused,
    StoreUnavailable,
    TooLarge,
)
from bridge.model import Channel, Cover, FaxRequest, Origin
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.spooling import Scratch, Spooled
from bridge.workers import WorkFailed

__all__ = ["SmtpIntake", "build_request", "fax_number", "idempotency_key", "queued_line", "smtp_text"]

log = logging.getLogger("faxbridge.email")
MAX_RECIPIENTS = 50
# Reading a mail (structure, decoding, the cover text) takes milliseconds; a mail still being read
# after this is hostile, and is refused rather than retried.
MAIL_SECONDS = 30.0
MAX_REPLY_LINE = 510  # RFC 5321 §4.5.3.1.5: 512 octets with the CRLF
TRANSIENT = "451 4.3.0 temporary failure, nothing was stored; please try again later"


def smtp_text(code: str, reason: str) -> str:
    """One SMTP reply line: ASCII, no line breaks, short enough for any client."""
    text = " ".join(anyascii(reason).split())
    return f"{code} {text}"[:MAX_REPLY_LINE]


class SmtpIntake:
    """The aiosmtpd handler: hooks for MAIL, RCPT and DATA."""

    def __init__(
        self, service: FaxService, settings: Settings, *, dkim_lookup: TxtLookup | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        self.dkim_lookup = dkim_lookup  # None: DKIM keys come from DNS
        self.domain = settings.fax_domain.lower().rstrip(".")
        self.limits = Limits(max_bytes=settings.max_message_bytes)
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.settings.smtp_auth_username:  # AUTH is offered only when it is configured
            responses = [r for r in responses if not r.startswith("250-AUTH")]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.settings.smtp_auth_username and not session.authenticated:
            return "530 5.7.0 Authentication required"
        sender = "" if address == "<>" else address
        try:
            self.service.check_sender(sender)
        except SenderRefused as refused:
            domain = sender.rpartition("@")[2]
            log.info("smtp: refused a sender %s at MAIL", f"at @{domain}" if domain else "(null sender)")
            return smtp_text("550 5.7.1", refused.reason)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local, _, domain = address.rpartition("@")
        if domain.lower().rstrip(".") != self.domain or not local:
            return "550 5.7.1 relay not permitted"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 too many recipients; at most {MAX_RECIPIENTS} numbers per mail"
        try:
            self.service.destination(fax_number(local), channel=Channel.EMAIL)
        except NumberRefused as refused:
            return smtp_text("550 5.1.1", refused.reason)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._busy += 1
        self._idle.clear()
        try:
            return await self._data(
                envelope,
                envelope_message(envelope),
                envelope_scratch(envelope),
                authenticated=bool(session.authenticated),
            )
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp: unexpected %s in the session; answered 451", type(error).__name__, exc_info=error)
        return TRANSIENT

    async def _data(
        self, envelope: Envelope, raw: Spooled | bytes, scratch: Scratch, *, authenticated: bool
    ) -> str:
        started = asyncio.get_running_loop().time()
        size = len(raw) if isinstance(raw, bytes) else raw.size
        source = raw if isinstance(raw, bytes) else str(raw.path)
        refusal = await self._authenticate(source, envelope, authenticated)
        if refusal is not None:
            return refusal
        try:
            # In the worker pool: the structure is read and each part decoded into the scratch folder.
            mail = await self.service.workers.run(
                read_mail, source, str(scratch.path), self.limits, timeout=MAIL_SECONDS
            )
        except MailTooLarge as exc:
            return smtp_text("552 5.3.4", str(exc))
        except UnreadableMail as exc:
            return smtp_text("554 5.6.0", str(exc))
        except WorkFailed as exc:
            log.warning("smtp: a mail of %d bytes was refused: %s", size, type(exc).__name__)
            return smtp_text("554 5.6.0", f"the mail could not be read: {exc.reason}")
        except Exception as exc:
            log.error("smtp: could not read a mail of %d bytes: %s", size, type(exc).__name__, exc_info=exc)
            return TRANSIENT
        key = idempotency_key(envelope_sender(envelope), mail.message_id, mail.content_sha256)
        request = build_request(mail, envelope, key, self.domain)
        try:
            acceptance = await self.service.accept(request)
        except TooLarge as refused:
            return smtp_text("552 5.3.4", refused.reason)
        except NothingToFax as refused:
            return smtp_text("554 5.6.0", refused.reason)
        except RequestRejected as refused:
            return smtp_text("554 5.6.0", refused.reason)
        except StoreUnavailable as exc:
            log.warning("smtp: answered 451, the store is unavailable: %s", exc.reason)
            return TRANSIENT
        except Exception as exc:
            log.error("smtp: answered 451 after an unexpected %s", type(exc).__name__, exc_info=exc)
            return TRANSIENT
        ids = " ".join(job.id for job in acceptance.jobs)
        log.info(
            "smtp: mail of %d bytes %s as %s in %.0f ms (%d documents, %d left out)",
            size,
            "seen before" if acceptance.duplicate else "accepted",
            ids,
            (asyncio.get_running_loop().time() - started) * 1000,
            len(request.attachments),
            len(request.left_out),
        )
        return queued_line([job.id for job in acceptance.jobs], duplicate=acceptance.duplicate)

    async def _authenticate(self, source: bytes | str, envelope: Envelope, authenticated: bool) -> str | None:
        """The refusal of a mail whose sender is not proven (FAXBRIDGE_SENDER_AUTH), or None."""
        try:
            # Off the loop: DKIM hashes the whole body and may wait on DNS. A thread rather than a
            # worker process, because the key lookup may be a caller's object (and DNS waits, not CPU).
            verdict = await asyncio.to_thread(
                verify_sender,
                source,
                settings=self.settings,
                recipients=list(envelope.rcpt_tos),
                authenticated=authenticated,
                lookup=self.dkim_lookup,
            )
        except Exception as exc:
            log.error(
                "smtp: answered 451 after an unexpected %s checking the sender",
                type(exc).__name__,
                exc_info=exc,
            )
            return TRANSIENT
        if verdict.accepted:
            return None
        # Addresses stay out of the log: only their domains.
        log.info(
            "smtp: refused a mail after DATA (%s): %s",
            verdict.outcome,
            re.sub(r"[^\s@]+@", "…@", verdict.reason),
        )
        return smtp_text(verdict.smtp_code, verdict.smtp_reason)

    async def wait_idle(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


def queued_line(ids: list[str], *, duplicate: bool = False) -> str:
    """`250 2.0.0 queued as <ids>`, kept within SMTP's 512-octet reply line."""
    line = f"250 2.0.0 {'already ' if duplicate else ''}queued as"
    for index, job_id in enumerate(ids):
        rest = len(ids) - index
        if len(line) + len(job_id) + 20 > MAX_REPLY_LINE and rest > 1:
            return f"{line} and {rest} more"
        line += f" {job_id}"
    return line


def fax_number(local_part: str) -> str:
    """The number in a recipient's local part: quotes and an RFC 3192 `FAX=` prefix removed."""
    number = local_part.strip().strip('"')
    if number.lower().startswith("fax="):
        number = number[4:]
    return number


def envelope_sender(envelope: Envelope) -> str:
    return "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)


def envelope_message(envelope: Envelope) -> Spooled | bytes:
    """The mail as the streamed DATA phase kept it (see adapters.email.server): bytes, or its file."""
    message: Any = getattr(envelope, "message", None)
    if not isinstance(message, Spooled | bytes):
        raise RuntimeError("the DATA phase kept no message")
    return message


def envelope_scratch(envelope: Envelope) -> Scratch:
    scratch: Any = getattr(envelope, "scratch", None)
    if not isinstance(scratch, Scratch):
        raise RuntimeError("the DATA phase kept no scratch folder")
    return scratch


def build_request(mail: ParsedMail, envelope: Envelope, key: str, fax_domain: str) -> FaxRequest:
    """The common request for one mail and every fax recipient it was accepted for."""
    sender = envelope_sender(envelope)
    numbers = tuple(fax_number(a.rpartition("@")[0]) for a in envelope.rcpt_tos)
    answer_to = sender or mail.from_address
    no_reply = (
        mail.automatic
        or not sender
        or answer_to.rpartition("@")[2].lower().rstrip(".") == fax_domain  # never answer ourselves
    )
    reply = {
        "message_id": mail.message_id,
        "subject": mail.subject,
        "references": mail.references,
        "reply_to": answer_to,
    }
    if no_reply:
        reply["no_reply"] = "1"
    from_shown = f"{mail.from_name} <{mail.from_address}>" if mail.from_name and mail.from_address else ""
    recipient = ""
    if len(envelope.rcpt_tos) == 1:
        recipient = mail.to_names.get(envelope.rcpt_tos[0].lower(), "")
    return FaxRequest(
        to=numbers,
        origin=Origin(channel=Channel.EMAIL, sender=answer_to, sender_name=mail.from_name, reply=reply),
        attachments=mail.attachments,
        cover=Cover(
            sender=from_shown or mail.from_address or sender,
            recipient=recipient,
            subject=mail.subject,
            note=mail.note,
        ),
        left_out=mail.left_out,
        strict=False,
        idempotency_key=key,
    )


def idempotency_key(sender: str, message_id: str, content_sha256: str) -> str:
    """What makes two deliveries the same mail: envelope sender, Message-ID and content, together.

    An MTA that re-delivers after a lost 250 sends all three unchanged, so the core returns the
    jobs it already made. Another sender reusing the Message-ID (by accident or to learn a job
    id), or the same sender re-sending a failed fax with new content, is a new request.
    """
    identity = "\0".join((sender.strip().lower(), message_id, content_sha256))
    return "email:" + hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()
