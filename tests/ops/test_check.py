"""`faxbridge check` against the stand-in, a fake Slack Web API and a loopback mail relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP as SMTPServer

from adapters.cli.check import run_checks
from adapters.ringcentral.standin import RunningStandin, StandinConfig, start_standin
from bridge.findings import Level, exit_code
from bridge.settings import Settings
from tests.helpers.ports import free_port


@pytest.fixture
async def standin() -> AsyncIterator[RunningStandin]:
    running = await start_standin(
        "127.0.0.1", 0, StandinConfig(client_id="app-id", client_secret="app-secret")
    )
    yield running
    await running.close()


@pytest.fixture
async def relay() -> AsyncIterator[int]:
    """A plain SMTP server on loopback, like a relay without STARTTLS or AUTH."""
    import asyncio

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTPServer(_Sink()), "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


class _Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def _settings(tmp_path: Path, **values: str) -> Settings:
    return Settings.from_mapping({"data_dir": str(tmp_path / "var"), **values})


async def test_good_configuration_passes(
    tmp_path: Path, standin: RunningStandin, fake_slack: str, relay: int
) -> None:
    """RingCentral credentials, a Slack bot token and a relay that all work give exit code 0."""
    settings = _settings(
        tmp_path,
        provider="ringcentral",
        ringcentral_server_url=standin.url,
        ringcentral_client_id="app-id",
        ringcentral_client_secret="app-secret",
        ringcentral_jwt="eyJ.jwt",
        allowed_senders="@example.com",
        slack_bot_token="xoxb-good",
        slack_signing_secret="s3cret",
        slack_api_url=fake_slack,
        smtp_relay_host="127.0.0.1",
        smtp_relay_port=str(relay),
        smtp_relay_starttls="false",
    )
    findings = await run_checks(settings)
    assert exit_code(findings) == 0, findings
    messages = " | ".join(f.message for f in findings)
    assert "logged in at" in messages
    assert "bot faxbot in Acme" in messages
    assert "answers EHLO" in messages
    assert (tmp_path / "var").stat().st_mode & 0o077 == 0


async def test_broken_configuration_says_what_to_fix(
    tmp_path: Path, standin: RunningStandin, fake_slack: str
) -> None:
    """Wrong RingCentral secret, a bad Slack token and an empty sender list are each reported with a fix; exit 2."""
    settings = _settings(
        tmp_path,
        provider="ringcentral",
        ringcentral_server_url=standin.url,
        ringcentral_client_id="app-id",
        ringcentral_client_secret="wrong",
        ringcentral_jwt="eyJ.jwt",
        slack_bot_token="xoxb-revoked",
        slack_signing_secret="s3cret",
        slack_api_url=fake_slack,
    )
    findings = await run_checks(settings)
    assert exit_code(findings) == 2
    by_part = {(f.part, f.level) for f in findings}
    assert ("RingCentral", Level.ERROR) in by_part
    assert ("Slack", Level.ERROR) in by_part
    slack = next(f for f in findings if f.part == "Slack" and f.level is Level.ERROR)
    assert "invalid_auth" in slack.message
    assert "reinstall" in slack.fix
    senders = next(f for f in findings if f.part == "email intake")
    assert "FAXBRIDGE_ALLOWED_SENDERS" in senders.fix
    assert "wrong" not in " ".join(f.message + f.fix for f in findings)


async def test_unreachable_relay_is_exit_1(tmp_path: Path) -> None:
    """A relay nobody answers on is reported as unreachable, exit code 1."""
    # A free port is one nothing listens on.
    settings = _settings(tmp_path, smtp_relay_host="127.0.0.1", smtp_relay_port=str(free_port()))
    findings = await run_checks(settings)
    assert exit_code(findings) == 1
    assert any(f.part == "reply relay" and f.level is Level.UNREACHABLE for f in findings)


async def test_sender_auth_none_warns_that_senders_can_be_forged(tmp_path: Path) -> None:
    """FAXBRIDGE_SENDER_AUTH=none is a warning saying senders can be forged; dkim is reported as ok."""
    loose = await run_checks(_settings(tmp_path, sender_auth="none", allowed_senders="@example.com"))
    warning = next(f for f in loose if "SENDER_AUTH" in f.message)
    assert warning.level is Level.WARNING and "forged" in warning.message
    strict = await run_checks(_settings(tmp_path, sender_auth="dkim", allowed_senders="@example.com"))
    assert not any("forged" in f.message for f in strict)
    assert any(f.level is Level.OK and "DKIM" in f.message for f in strict)
