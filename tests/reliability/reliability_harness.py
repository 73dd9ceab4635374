"""Mail for the reliability suite: fax mails, an MTA-like sender, and what the stand-in received."""

from __future__ import annotations

import json
import smtplib
import time
from email.message import EmailMessage
from typing import Any

from bridge.testing import sample_pdf
from tests.helpers.processes import Sandbox
from tests.helpers.world import FAX_DOMAIN

FINAL = {"delivered", "failed", "cancelled", "rejected"}


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
