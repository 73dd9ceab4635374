"""Received faxes by mail: the PDF attached (or a notice without it), through the relay; a reply threaded.

Each mail's Message-ID is fixed by the fax and the delivery, so a mail sent again after a crash
(the relay took it, the bridge died before noting so) is the same mail to every mail system that
collapses duplicates. A reply to a fax asked for by mail carries In-Reply-To and References to
the sender's original.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from adapters.email.replies import Send, _ids, _one_line, send_through_relay
from bridge.clock import Clock, utcnow
from bridge.errors import DeliveryRefused, DeliveryTransient
from bridge.model import Channel
from bridge.ports import Parcel
from bridge.received import DestinationKind
from bridge.settings import RelaySettings
from bridge.wording import fetch_notice, received_line, received_subject

log = logging.getLogger("faxbridge.email.received")


class MailForwarder:
    """The Forwarder for `email:ADDRESS` and for the thread of a fax asked for by mail."""

    def __init__(self, settings: RelaySettings, *, clock: Clock = utcnow, send: Send | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self._send = send or (lambda message: send_through_relay(settings, message))

    async def forward(self, parcel: Parcel) -> None:
        if not self.settings.host:
            raise DeliveryRefused("no relay to mail it through (FAXBRIDGE_SMTP_RELAY_HOST is not set)")
        message = compose_received(parcel, self.settings, now=self.clock())
        try:
            await self._send(message)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            if all(500 <= r.code < 600 for r in refused.recipients):
                raise DeliveryRefused(
                    f"the relay refused the address ({refused.recipients[0].code})"
                ) from refused
            raise DeliveryTransient("the relay deferred the address") from refused
        except aiosmtplib.SMTPResponseException as answer:
            if 500 <= answer.code < 600:
                raise DeliveryRefused(f"the relay refused the mail ({answer.code})") from answer
            raise DeliveryTransient(f"the relay deferred the mail ({answer.code})") from answer
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryTransient(f"the relay could not be reached ({type(exc).__name__})") from exc
        log.info(
            "received fax %s: mailed (%d bytes, %s)",
            parcel.fax.id,
            len(message.as_bytes()),
            "with the document" if parcel.attach else "a notice only",
        )


def compose_received(parcel: Parcel, settings: RelaySettings, *, now: datetime) -> EmailMessage:
    """The mail for one delivery: subject `Fax from +1 202-555-0123 (3 pages)`, the PDF or a notice."""
    fax, delivery = parcel.fax, parcel.delivery
    to, original, references, name = _recipient(parcel)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(display_name="faxbridge", addr_spec=settings.reply_sender)
    message["To"] = Address(display_name=_one_line(name), addr_spec=_one_line(to))
    message["Subject"] = received_subject(fax)
    message["Date"] = format_datetime(now)
    domain = settings.reply_sender.rpartition("@")[2] or "faxbridge"
    message["Message-ID"] = f"<faxbridge.received.{fax.id}.{delivery.id}@{domain}>"
    if original:
        message["In-Reply-To"] = original
        message["References"] = " ".join([*references, original][-20:])
    # A machine wrote this: vacation responders and the like must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    lines = [received_line(fax), ""]
    lines.append("The fax is attached as a PDF." if parcel.attach else fetch_notice(fax))
    lines += ["", f"Received fax: {fax.id}"]
    message.set_content("\n".join(lines) + "\n")
    if parcel.attach:
        with parcel.open() as document:
            data = document.read()
        filename = f"fax-{fax.from_number.lstrip('+')}-{fax.received:%Y%m%d-%H%M}.pdf"
        message.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return message


def _recipient(parcel: Parcel) -> tuple[str, str | None, list[str], str]:
    """(address, the Message-ID it answers, earlier References, display name) of a delivery."""
    destination = parcel.delivery.destination
    if destination.kind is DestinationKind.EMAIL:
        return destination.target, None, [], ""
    job = parcel.answers
    if job is None or job.origin.channel is not Channel.EMAIL or not job.origin.reply.get("reply_to"):
        raise DeliveryRefused("no mail to answer: the fax it answers was not asked for by mail")
    reply = job.origin.reply
    original = _ids(reply.get("message_id", ""))
    return (
        reply["reply_to"],
        original[0] if original else None,
        _ids(reply.get("references", "")),
        job.origin.sender_name,
    )
