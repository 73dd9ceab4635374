"""A running bridge with Slack over HTTP, its real `/slack/events` route, and a fake Slack on loopback."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from adapters.cli.serve import _http_routes, health, metrics_page
from adapters.cli.wiring import Bridge, build_bridge
from adapters.http.server import HttpServer, build_http_app
from adapters.slack import SlackIntake
from bridge.model import Channel, Job
from bridge.settings import Settings
from bridge.testing import FakeProvider, sample_pdf
from tests.slack.slack_fakes import BOT_TOKEN, FakeSlack, ForeignHost

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DATA = Path(__file__).parent.parent / "data" / "slack"


def payload(name: str) -> dict[str, Any]:
    """A Slack payload fixture from tests/data/slack."""
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def signed(body: str, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack adds: the request timestamp and the v0 HMAC signature of the raw body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


@dataclass
class SlackBridge:
    """Everything a Slack test touches: the fake Slack, the bridge and its HTTP route."""

    fake: FakeSlack
    foreign: ForeignHost
    bridge: Bridge
    provider: FakeProvider
    intake: SlackIntake
    url: str
    http: httpx.AsyncClient

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        retry: int | None = None,
        timestamp: int | None = None,
        secret: str = SECRET,
    ) -> httpx.Response:
        headers = {"Content-Type": content_type, **signed(body, timestamp=timestamp, secret=secret)}
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.http.post(f"{self.url}/slack/events", content=body.encode(), headers=headers)

    async def command(self, **fields: str) -> httpx.Response:
        form = payload("command_fax.json") | fields
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def event(self, body: dict[str, Any], *, retry: int | None = None) -> httpx.Response:
        return await self.post(json.dumps(body), "application/json", retry=retry)

    async def interact(self, body: dict[str, Any]) -> httpx.Response:
        return await self.post(urlencode({"payload": json.dumps(body)}), "application/x-www-form-urlencoded")

    async def settle(self) -> None:
        """Let the background work of the requests so far finish, and deliver the status notices."""
        await self.intake.idle()
        await self.bridge.pump.deliver_due()

    async def finish_jobs(self) -> None:
        """Send every queued fax, follow it to its end, and tell Slack."""
        await self.bridge.dispatcher.run_until_idle()
        await self.bridge.tracker.check()
        await self.bridge.pump.deliver_due()

    async def jobs(self) -> list[Job]:
        return await self.bridge.store.list_jobs()

    def pdf(self, file_id: str, name: str, pages: int) -> dict[str, Any]:
        return self.fake.add_file(file_id, name, sample_pdf(pages, text=name))

    def dm(self, *files: dict[str, Any], text: str | None = None) -> dict[str, Any]:
        """A DM to the bot sharing `files`, with the number in its text unless `text` says otherwise."""
        return dm_event(*files, text=text)

    async def told(self) -> list[str]:
        """Everything said to people outside status messages: thread replies, ephemerals and DMs."""
        status = {m.ts for m in self.fake.messages.values() if m.blocks}
        posted = [p for p in self.fake.posts() if p.args["_ts"] not in status]
        said = sorted([*self.fake.called("chat.postEphemeral"), *posted], key=lambda c: c.at)
        return [c.args["text"] for c in said]

    def submission(self, files: list[dict[str, Any]], number: str = "+1 202 555 0123") -> dict[str, Any]:
        body = payload("view_submission.json")
        values = body["view"]["state"]["values"]
        values["files"]["files"]["files"] = files
        values["number"]["number"]["value"] = number
        return body


def dm_event(*files: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """The DM file share of tests/data/slack with these files (and text)."""
    body = payload("event_dm_file_share.json")
    body["event"]["files"] = list(files)
    if text is not None:
        body["event"]["text"] = text
    return body


@contextlib.asynccontextmanager
async def slack_bridge(
    tmp_path: Path, *, fake: FakeSlack | None = None, **settings: str
) -> AsyncIterator[SlackBridge]:
    """A bridge configured for Slack over HTTP against a fake Slack (fresh unless given), on a free port."""
    own_fake = fake is None
    fake = fake or FakeSlack()
    foreign = ForeignHost()
    async with contextlib.AsyncExitStack() as stack:
        if own_fake:
            await fake.start()
            stack.push_async_callback(fake.close)
        await foreign.start()
        stack.push_async_callback(foreign.close)
        config = Settings.from_mapping(
            {
                "data_dir": str(tmp_path / "var"),
                "slack_bot_token": BOT_TOKEN,
                "slack_signing_secret": SECRET,
                "slack_api_url": fake.api_url,
                "slack_file_hosts": fake.host,
                "retry_delay_seconds": "60",
                "poll_seconds": "0.05",
                **settings,
            }
        )
        provider = FakeProvider()
        bridge = await build_bridge(config, provider=provider)
        stack.push_async_callback(bridge.close)
        bridge.repliers[Channel.SLACK].min_interval = 0.0  # type: ignore[attr-defined]
        routes = await _http_routes(bridge)
        server = HttpServer(
            build_http_app(
                health=lambda: health(bridge), metrics=lambda: metrics_page(bridge), routes=routes
            ),
            "127.0.0.1",
            0,
        )
        await server.start()
        bridge.stack.push_async_callback(server.close)
        intake = next(r.handler.__self__ for r in routes if r.path == "/slack/events")
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
        yield SlackBridge(fake, foreign, bridge, provider, intake, server.url, http)
