"""`faxbridge check` against the stand-in, a fake Slack Web API and a loopback mail relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP as SMTPServer

from adapters.cli.check import run_checks
from adapters.ringcentral.standin import RunningStandin, StandinConfig, start_standin
from adapters.slack.check import required_slack_scopes
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
async def fake_slack() -> AsyncIterator[str]:
    """auth.test that knows one good token, granting every scope faxbridge needs."""

    async def auth_test(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")
        if token != "Bearer xoxb-good":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response(
            {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "faxbot",
                "team_id": "T1",
                "user_id": "U1",
            },
            headers={"x-oauth-scopes": ",".join(required_slack_scopes())},
        )

    app = web.Application()
    app.router.add_post("/api/auth.test", auth_test)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/"
    await runner.cleanup()


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


async def test_plaintext_auth_off_loopback_is_a_configuration_error(tmp_path: Path) -> None:
    """SMTP AUTH with no certificate on a public listener is reported (exit 2), as serve would refuse it."""
    settings = _settings(tmp_path, smtp_host="0.0.0.0", smtp_auth_username="scanner", smtp_auth_password="pw")
    findings = await run_checks(settings)
    assert exit_code(findings) == 2
    problem = next(f for f in findings if f.part == "email intake" and f.level is Level.ERROR)
    assert "SMTP AUTH without TLS" in problem.message
    assert "FAXBRIDGE_SMTP_TLS_CERT" in problem.fix


async def test_sender_auth_none_warns_that_senders_can_be_forged(tmp_path: Path) -> None:
    """FAXBRIDGE_SENDER_AUTH=none is a warning saying senders can be forged; dkim is reported as ok."""
    loose = await run_checks(_settings(tmp_path, sender_auth="none", allowed_senders="@example.com"))
    warning = next(f for f in loose if "SENDER_AUTH" in f.message)
    assert warning.level is Level.WARNING and "forged" in warning.message
    strict = await run_checks(_settings(tmp_path, sender_auth="dkim", allowed_senders="@example.com"))
    assert not any("forged" in f.message for f in strict)
    assert any(f.level is Level.OK and "DKIM" in f.message for f in strict)
