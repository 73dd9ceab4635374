"""Status mails through real local relays: STARTTLS `auto` (when offered; required with a password), and a
notice that keeps failing is visible to the operator."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from adapters.cli.serve import metrics_page
from adapters.email.check import check_relay
from bridge.errors import ConfigError
from bridge.findings import Level
from bridge.settings import Settings
from tests.conftest import Clock
from tests.email import test_smtp_delivery
from tests.email.conftest import Harness, mail
from tests.helpers.relays import CaptureHandler, CaptureRelay

certificate = test_smtp_delivery.certificate  # a self-signed certificate made with openssl


class TlsCaptureHandler(CaptureHandler):
    """Keeps each mail and whether it came over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.encrypted.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)


class StarttlsRelay(CaptureRelay):
    """A capturing relay that offers STARTTLS with a self-signed certificate, like a stock local Postfix."""

    def __init__(self, cert: str, key: str) -> None:
        super().__init__()
        self.handler = TlsCaptureHandler()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)

    def smtp_options(self) -> dict[str, Any]:
        return {**super().smtp_options(), "tls_context": self.context}


def _relay(port: int, **extra: str) -> dict[str, str]:
    """Relay settings with FAXBRIDGE_SMTP_RELAY_STARTTLS left at its default unless given."""
    return {"smtp_relay_host": "127.0.0.1", "smtp_relay_port": str(port), **extra}


async def test_auto_delivers_to_a_local_relay_without_starttls(
    make_harness: Any, relay: CaptureRelay
) -> None:
    """By default (`auto`) the receipt reaches a relay that offers no STARTTLS, as a local Postfix often does.

    Mutation caught: a default that requires STARTTLS (every receipt and report then fails forever).
    """
    harness: Harness = await make_harness(email_replies=True, **_relay(relay.port))
    await harness.send(mail())
    await harness.bridge.pump.deliver_due()
    assert len(relay.mails) == 1
    assert relay.mails[0].message["Subject"].startswith("Fax to +1 202-555-0123: accepted")


async def test_auto_uses_starttls_when_the_relay_offers_it(
    make_harness: Any, certificate: tuple[str, str]
) -> None:
    """A relay that offers STARTTLS (self-signed, like a stock Postfix) gets the receipt over TLS.

    Mutation caught: `auto` never taking the STARTTLS a relay offers (mail in clear although TLS was there).
    """
    relay = StarttlsRelay(*certificate)
    await relay.start()
    try:
        harness: Harness = await make_harness(email_replies=True, **_relay(relay.port))
        await harness.send(mail())
        await harness.bridge.pump.deliver_due()
        assert len(relay.mails) == 1
        assert isinstance(relay.handler, TlsCaptureHandler) and relay.handler.encrypted == [True]
    finally:
        await relay.stop()


async def test_auto_never_sends_a_password_in_clear_and_the_failure_shows(
    make_harness: Any, relay: CaptureRelay, clock: Clock
) -> None:
    """With a relay password `auto` requires STARTTLS: no login in clear, and the failing receipt shows to the operator.

    The receipt is listed in the job's failing notices and counted in faxbridge_replies_failing.
    Mutation caught: `auto` ignoring the password (the login would cross in clear).
    """
    relay.login = ("bridge", "relay-secret")
    await relay.stop()
    await relay.start()
    harness: Harness = await make_harness(
        email_replies=True,
        smtp_relay_username="bridge",
        smtp_relay_password="relay-secret",
        **_relay(relay.port),
    )
    answer = await harness.send(mail())
    await harness.bridge.pump.deliver_due()
    assert relay.logins == [] and relay.mails == []
    (job_id,) = answer.job_ids
    (trouble,) = await harness.bridge.store.reply_troubles(job_id)
    assert trouble.kind.value == "acknowledge" and trouble.attempts == 1
    assert "STARTTLS" in trouble.error
    page = (await metrics_page(harness.bridge)).decode()
    assert "faxbridge_replies_failing 1.0" in page
    assert 'faxbridge_replies_total{channel="email",outcome="failed"} 1.0' in page
    clock.advance(3600)
    await harness.bridge.pump.deliver_due()
    assert (await harness.bridge.store.reply_troubles(job_id))[0].attempts == 2


@pytest.mark.parametrize(
    ("value", "password", "wanted"),
    [
        ("auto", "", None),
        ("auto", "secret", True),
        ("true", "", True),
        ("yes", "", True),
        ("false", "", False),
        ("false", "secret", False),
    ],
)
def test_relay_starttls_modes(value: str, password: str, wanted: bool | None) -> None:
    """`auto` is "when offered" (None) unless a password makes it required; true and false are kept as said."""
    settings = Settings.from_mapping({"smtp_relay_starttls": value, "smtp_relay_password": password})
    assert settings.relay_starttls is wanted


def test_an_unknown_starttls_mode_is_a_configuration_error() -> None:
    """FAXBRIDGE_SMTP_RELAY_STARTTLS=maybe is refused, naming the variable and the choices."""
    with pytest.raises(ConfigError, match="FAXBRIDGE_SMTP_RELAY_STARTTLS must be 'auto', 'true' or 'false'"):
        Settings.load({"FAXBRIDGE_SMTP_RELAY_STARTTLS": "maybe"})


async def test_check_accepts_a_local_relay_without_starttls_and_reports_offered_tls(
    relay: CaptureRelay, certificate: tuple[str, str]
) -> None:
    """`faxbridge check` with `auto`: a local relay without STARTTLS is fine; one that offers it is used."""
    plain = await check_relay(Settings.from_mapping(_relay(relay.port)))
    assert [f.level for f in plain] == [Level.OK, Level.OK]
    assert "no STARTTLS" in plain[1].message and "it is local" in plain[1].message
    tls = StarttlsRelay(*certificate)
    await tls.start()
    try:
        found = await check_relay(Settings.from_mapping(_relay(tls.port)))
    finally:
        await tls.stop()
    assert [f.level for f in found] == [Level.OK, Level.OK]
    assert found[1].message.startswith("STARTTLS works (certificate not verified")
