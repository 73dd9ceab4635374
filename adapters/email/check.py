"""`faxbridge check` for the reply relay: EHLO, STARTTLS and AUTH as configured."""

from __future__ import annotations

import ssl

import aiosmtplib

from bridge.check import Finding, Level
from bridge.settings import Settings


async def check_relay(settings: Settings) -> list[Finding]:
    part = "reply relay"
    if not settings.smtp_relay_host:
        return [Finding(part=part, level=Level.OK, message="off: status mails are written to the log")]
    smtp = aiosmtplib.SMTP(
        hostname=settings.smtp_relay_host, port=settings.smtp_relay_port, start_tls=False, timeout=15
    )
    where = f"{settings.smtp_relay_host}:{settings.smtp_relay_port}"
    try:
        await smtp.connect()
    except (aiosmtplib.SMTPException, OSError) as exc:
        return [Finding(part=part, level=Level.UNREACHABLE, message=f"{where} cannot be reached: {exc}")]
    found = [Finding(part=part, level=Level.OK, message=f"{where} answers EHLO")]
    try:
        if settings.smtp_relay_starttls:
            await smtp.starttls()
            found.append(Finding(part=part, level=Level.OK, message="STARTTLS works"))
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
