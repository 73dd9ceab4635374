"""Status mails to the sender: a receipt at acceptance and a report at the end, threaded to the original.

The durable outbox (bridge/replies.py) calls this replier and retries on any exception, so a
relay that is down means a later try, never a lost mail. Each mail's Message-ID is fixed by
the job and the notice, so a retried send is recognisable. Without a relay the mail is
logged instead of sent. The log gets ids, numbers and sizes, never the mail's words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from bridge.clock import Clock, utcnow
from bridge.model import Job
from bridge.settings import RelaySettings
from bridge.states import JobState
from bridge.wording import STATE_WORDS, contents, display_number, left_out, outcome, plural, succeeded

__all__ = ["EmailReplier", "compose_receipt", "compose_report"]

log = logging.getLogger("faxbridge.email.replies")
Send = Callable[[EmailMessage], Awaitable[None]]
RELAY_TIMEOUT = 30.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>")
MAX_SUBJECT_ECHO = 150


class EmailReplier:
    """The Replier for mail: receipt and final report; state changes in between are not mailed."""

    def __init__(self, settings: RelaySettings, *, clock: Clock = utcnow, send: Send | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self._send = send or self._send_through_relay

    async def acknowledge(self, job: Job) -> None:
        if self._silent(job, "receipt"):
            return
        await self._deliver(job, "receipt", lambda: compose_receipt(job, self.settings, now=self.clock()))

    async def update(self, job: Job) -> None:
        """Mail gets only the receipt and the final report."""

    async def report(self, job: Job) -> None:
        if self._silent(job, "report"):
            return
        await self._deliver(job, "report", lambda: compose_report(job, self.settings, now=self.clock()))

    def _silent(self, job: Job, kind: str) -> bool:
        if job.origin.reply.get("no_reply") == "1" or not job.origin.reply.get("reply_to"):
            log.info("job %s: no %s mailed (automatic mail or no sender to answer)", job.id, kind)
            return True
        return False

    async def _deliver(self, job: Job, kind: str, compose: Callable[[], EmailMessage | None]) -> None:
        summary = _summary(job, kind)
        if not self.settings.host:
            # Nothing would carry the mail: it is not composed at all (that costs milliseconds a mail).
            log.info("job %s: email %s to the sender, not mailed (no relay set): %s", job.id, kind, summary)
            return
        message = compose()
        if message is None:
            log.error("job %s: the sender's address cannot take a reply; no %s mailed", job.id, kind)
            return
        try:
            await self._send(message)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            if all(500 <= r.code < 600 for r in refused.recipients):
                # The relay will never take this address; retrying would only repeat the refusal.
                codes = ", ".join(str(r.code) for r in refused.recipients)
                log.error("job %s: the relay refused the %s's recipient for good (%s)", job.id, kind, codes)
                return
            raise
        log.info("job %s: email %s sent (%d bytes): %s", job.id, kind, len(message.as_bytes()), summary)

    async def _send_through_relay(self, message: EmailMessage) -> None:
        await send_through_relay(self.settings, message)


async def send_through_relay(s: RelaySettings, message: EmailMessage) -> None:
    """Hand one mail to FAXBRIDGE_SMTP_RELAY_HOST, with TLS as FAXBRIDGE_SMTP_RELAY_STARTTLS says."""
    implicit_tls = s.port == 465
    required = implicit_tls or s.relay_starttls is True
    await aiosmtplib.send(
        message,
        hostname=s.host,
        port=s.port,
        username=s.username or None,
        password=s.password or None,
        use_tls=implicit_tls,
        # None: STARTTLS when the relay offers it (a local Postfix often does not).
        start_tls=False if implicit_tls else s.relay_starttls,
        # TLS taken only because it is offered is not verified (like Postfix's `may`): a
        # self-signed local relay still gets encrypted mail instead of none at all.
        validate_certs=required,
        timeout=RELAY_TIMEOUT,
    )


# -- composing ---------------------------------------------------------------------------------


def compose_receipt(job: Job, settings: RelaySettings, *, now: datetime) -> EmailMessage | None:
    """The receipt: what will be faxed, in order, and what was left out and why."""
    lines = [f"Your fax to {display_number(job.to)} was accepted and will be sent in this order:", ""]
    lines += _numbered(contents(job))
    lines += [f"   Total: {plural(job.pages, 'page')}", ""]
    lines += _left_out_block(job)
    lines += [
        "You will get one more mail when the fax has been delivered or has failed.",
        "",
        f"Job: {job.id}",
    ]
    return _message(job, settings, now=now, kind="receipt", outcome_word="accepted", body=lines)


def compose_report(job: Job, settings: RelaySettings, *, now: datetime) -> EmailMessage | None:
    """The final report: the outcome in plain words, pages, time taken, tries and what happened."""
    lines = [outcome(job), ""]
    lines += [
        f"To: {display_number(job.to)}",
        f"Pages: {job.pages}",
        f"Time taken: {_duration(job.updated - job.created)}",
        f"Tries: {job.attempts}",
        f"Job: {job.id}",
        "",
        "What was faxed:" if succeeded(job) else "What was to be faxed:",
    ]
    lines += _numbered(contents(job))
    lines.append("")
    lines += _left_out_block(job)
    if job.history:
        lines.append("What happened:")
        for step in job.history:
            reason = f": {_one_line(step.reason)}" if step.reason else ""
            lines.append(f"   {step.at:%Y-%m-%d %H:%M:%S} UTC  {STATE_WORDS[step.state]}{reason}")
    return _message(job, settings, now=now, kind="report", outcome_word=report_word(job), body=lines)


def report_word(job: Job) -> str:
    """The outcome as the report's subject says it."""
    if job.state is JobState.SENT and job.settled:
        return "sent, not confirmed"
    return STATE_WORDS[job.state]


def message_id(job: Job, kind: str, domain: str) -> str:
    """The same notice about the same job state always gets the same Message-ID."""
    suffix = "" if kind == "receipt" else f".{job.state.value}.{len(job.history)}"
    return f"<faxbridge.{job.id}.{kind}{suffix}@{domain}>"


def _message(
    job: Job, settings: RelaySettings, *, now: datetime, kind: str, outcome_word: str, body: list[str]
) -> EmailMessage | None:
    reply = job.origin.reply
    try:
        to = Address(display_name=_one_line(job.origin.sender_name), addr_spec=_one_line(reply["reply_to"]))
        sender = Address(display_name="faxbridge", addr_spec=settings.reply_sender)
    except (ValueError, IndexError, KeyError):
        return None
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = _subject(job, outcome_word, reply.get("subject", ""))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(job, kind, settings.reply_sender.rpartition("@")[2] or "faxbridge")
    original = _ids(reply.get("message_id", ""))
    if original:
        message["In-Reply-To"] = original[0]
        message["References"] = " ".join([*_ids(reply.get("references", "")), original[0]][-20:])
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content("\n".join(body).rstrip() + "\n")
    return message


def _subject(job: Job, outcome_word: str, original: str) -> str:
    subject = f"Fax to {display_number(job.to)}: {outcome_word}"
    original = _one_line(original)
    if original:
        shortened = original if len(original) <= MAX_SUBJECT_ECHO else original[: MAX_SUBJECT_ECHO - 1] + "…"
        subject += f" (Re: {shortened})"
    return subject


def _one_line(text: str) -> str:
    """Text safe for one header: no CR, LF or other controls."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def _ids(text: str) -> list[str]:
    return _MESSAGE_ID.findall(_one_line(text))


def _numbered(items: list[str]) -> list[str]:
    return [f"   {n}. {_one_line(item)}" for n, item in enumerate(items, start=1)] or ["   (nothing)"]


def _left_out_block(job: Job) -> list[str]:
    items = left_out(job)
    if not items:
        return []
    return ["Left out (not faxed):", *[f"   - {_one_line(item)}" for item in items], ""]


def _duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{plural(hours, 'hour')} {plural(minutes, 'minute')}"
    if minutes:
        return f"{plural(minutes, 'minute')} {plural(secs, 'second')}"
    return plural(secs, "second")


def _summary(job: Job, kind: str) -> str:
    """What the log may say about a status mail: ids, numbers and sizes only."""
    documents = sum(1 for d in job.documents if d.role.value == "document")
    base = f"to {job.to}, {plural(documents, 'document')}, {plural(job.pages, 'page')}"
    if job.left_out:
        base += f", {len(job.left_out)} left out"
    if kind == "report":
        base = f"{report_word(job)} {base}, {job.attempts} {'try' if job.attempts == 1 else 'tries'}, {_duration(job.updated - job.created)}"
    return base
