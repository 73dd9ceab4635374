"""`faxbridge check` asks for files:write where received faxes are uploaded to Slack, and only there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from adapters.slack.check import check_slack, required_slack_scopes
from adapters.slack.manifest import build_manifest
from bridge.findings import Level
from bridge.settings import Settings

WITHOUT_UPLOADS = [scope for scope in required_slack_scopes() if scope != "files:write"]


@pytest.fixture
async def slack_api() -> AsyncIterator[str]:
    """auth.test granting every scope but files:write, as an app made before receiving was on."""

    async def auth_test(request: web.Request) -> web.Response:
        body = {"ok": True, "team": "Acme", "user": "faxbot", "team_id": "T1", "user_id": "U1"}
        return web.json_response(body, headers={"x-oauth-scopes": ",".join(WITHOUT_UPLOADS)})

    app = web.Application()
    app.router.add_post("/api/auth.test", auth_test)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/"
    await runner.cleanup()


def _settings(tmp_path: Path, api: str, **values: str) -> Settings:
    return Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "provider": "ringcentral",
            "ringcentral_client_id": "a",
            "ringcentral_client_secret": "b",
            "ringcentral_jwt": "c",
            "slack_bot_token": "xoxb-good",
            "slack_signing_secret": "s",
            "slack_api_url": api,
            **values,
        }
    )


async def test_a_token_without_files_write_is_an_error_once_faxes_are_received(
    tmp_path: Path, slack_api: str
) -> None:
    """With routes set, a bot token lacking files:write is reported with the fix (mutation: drop the scope)."""
    settings = _settings(tmp_path, slack_api, inbound_routes="*=slack:C0123ABCD")
    findings = await check_slack(settings.slack, receiving=settings.inbound.receiving)
    (error,) = [f for f in findings if f.level is Level.ERROR]
    assert "files:write" in error.message
    assert "reinstall" in error.fix


async def test_files_write_is_not_asked_for_where_nothing_is_received(tmp_path: Path, slack_api: str) -> None:
    """No routes outside demo mode: receiving is off and the scope is not required."""
    settings = _settings(tmp_path, slack_api)
    findings = await check_slack(settings.slack, receiving=settings.inbound.receiving)
    assert [f for f in findings if f.level is Level.ERROR] == []


def test_the_manifest_asks_for_files_write() -> None:
    """The app manifest carries files:write, so a new app can upload received faxes."""
    manifest = build_manifest("https://fax.example.org")
    assert "files:write" in manifest["oauth_config"]["scopes"]["bot"]
