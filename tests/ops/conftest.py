"""Fakes shared by the operations tests: a Slack Web API that knows one bot token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.slack.check import required_slack_scopes

GOOD_TOKEN = "xoxb-good"


@pytest.fixture
async def fake_slack() -> AsyncIterator[str]:
    """auth.test that knows one good token (GOOD_TOKEN), granting every scope faxbridge needs."""

    async def auth_test(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")
        if token != f"Bearer {GOOD_TOKEN}":
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
