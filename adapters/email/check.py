"""`faxbridge check` for the reply relay: EHLO, STARTTLS and AUTH as configured."""

from __future__ import annotations

import ssl

import aiosmtplib

from bridge.findings import Finding, Level
from bridge.hosts import is_loopback
from bridge.settings import Settings


async def check_relay(settings: Settings) -> list[Finding]:
    part = "reply relay"
    if not settings.smtp_relay_host:
        return [Finding(part=part, level=Level.OK, message="off: status mails are written to the log")]
    required = settings.relay_starttls is True
    smtp = aiosmtplib.SMTP(
        hostname=settings.smtp_relay_host,
        port=settings.smtp_relay_port,
        start_tls=False,
        validate_certs=required,  # as the replier does: opportunistic TLS is not verified
        timeout=15,
    )
    where = f"{settings.smtp_relay_host}:{settings.smtp_relay_port}"
    try:
        await smtp.connect()
    except (aiosmtplib.SMTPException, OSError) as exc:
        return [Finding(part=part, level=Level.UNREACHABLE, message=f"{where} cannot be reached: {exc}")]
    found = [Finding(part=part, level=Level.OK, message=f"{where} answers EHLO")]
    try:
        await smtp.ehlo()
        if required or (settings.relay_starttls is None and smtp.supports_extension("starttls")):
            await smtp.starttls()
            verified = "" if required else " (certificate not verified: STARTTLS is taken when offered)"
            found.append(Finding(part=part, level=Level.OK, message=f"STARTTLS works{verified}"))
        else:
            found.append(_plain(settings, where, offered=smtp.supports_extension("starttls")))
        if settings.smtp_relay_username:
            await smtp.login(settings.smtp_relay_username, settings.smtp_relay_password)
            found.append(
                Finding(part=part, level=Level.OK, message=f"AUTH as {settings.smtp_relay_username} works")
            )
    except aiosmtplib.SMTPAuthenticationError:
        found.append(
            Finding(
                part=part,
                level=Level.ERROR,
                message="the relay refused the username or password",
                fix="check FAXBRIDGE_SMTP_RELAY_USERNAME and _PASSWORD",
            )
        )
    except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
        found.append(
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"{where}: {exc}",
                fix="set FAXBRIDGE_SMTP_RELAY_STARTTLS=false if the relay has no STARTTLS, or fix its certificate",
            )
        )
    finally:
        smtp.close()
    return found


def _plain(settings: Settings, where: str, *, offered: bool) -> Finding:
    """Status mails go to the relay unencrypted: fine on this machine, worth a warning beyond it."""
    why = "FAXBRIDGE_SMTP_RELAY_STARTTLS=false" if offered else "the relay offers no STARTTLS"
    if is_loopback(settings.smtp_relay_host):
        return Finding(
            part="reply relay", level=Level.OK, message=f"no STARTTLS to {where} ({why}); it is local"
        )
    return Finding(
        part="reply relay",
        level=Level.WARNING,
        message=f"status mails cross the network to {where} unencrypted ({why})",
        fix="turn on STARTTLS at the relay, or use a relay on this machine",
    )
