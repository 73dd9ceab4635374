"""Slack over Socket Mode: with FAXBRIDGE_SLACK_APP_TOKEN the listeners get requests over a WebSocket."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.cli.serve import _http_routes, _start_intakes
from adapters.cli.wiring import build_bridge
from bridge.model import Channel
from bridge.settings import Settings
from bridge.testing import FakeProvider, sample_pdf
from tests.slack.slack_fakes import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.slack.slack_harness import payload


async def test_socket_mode_dm_file_share_is_acked_and_faxed(tmp_path: Path) -> None:
    """With an app token there is no HTTP route; a DM file share on the socket is acked and becomes a job."""
    fake = FakeSlack()
    await fake.start()
    settings = Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "slack_bot_token": BOT_TOKEN,
            "slack_app_token": APP_TOKEN,
            "slack_api_url": fake.api_url,
            "slack_file_hosts": fake.host,
            "smtp_port": "0",
        }
    )
    bridge = await build_bridge(settings, provider=FakeProvider())
    try:
        assert [r.path for r in await _http_routes(bridge) if r.path == "/slack/events"] == []
        await _start_intakes(bridge)
        assert [c.method for c in fake.calls][:2] == ["auth.test", "apps.connections.open"]

        body = payload("event_dm_file_share.json")
        body["event"]["files"] = [fake.add_file("F0FIRST", "first.pdf", sample_pdf(1))]
        envelope = {
            "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
            "payload": body,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        ack = await fake.push(envelope)
        assert ack["envelope_id"] == envelope["envelope_id"]

        for _ in range(200):
            jobs = await bridge.store.list_jobs()
            if jobs:
                break
            await asyncio.sleep(0.02)
        [job] = jobs
        assert job.origin.channel is Channel.SLACK
        assert job.origin.reply["thread_ts"] == "1764158500.000200"
        await bridge.pump.deliver_due()
        [post] = fake.posts()
        assert (post.args["channel"], post.args["thread_ts"]) == ("D0ALICE", "1764158500.000200")
    finally:
        await bridge.close()
        await fake.close()
