"""The Slack Web API is down for a while: the status message waits, then appears once and is updated to the end."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from reliability_harness import FINAL, BridgeProcess, Sandbox, wait_for
from slack_fakes import BOT_TOKEN, FakeSlack, texts
from slack_harness import SECRET, payload, signed

from bridge.testing import sample_pdf


class ThreadedSlack:
    """The fake Slack of tests/slack, serving from its own event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-slack", daemon=True)
        self.thread.start()
        self.fake = self.call(self._start())

    async def _start(self) -> FakeSlack:
        fake = FakeSlack()
        await fake.start()
        return fake

    def call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def settings(self) -> dict[str, str]:
        """The settings that point a bridge at this fake Slack, over HTTP."""
        return {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SECRET,
            "slack_api_url": self.fake.api_url,
            "slack_file_hosts": self.fake.host,
        }

    def close(self) -> None:
        self.call(self.fake.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ThreadedSlack, BridgeProcess]]:
    sandbox = Sandbox(tmp_path, delay=0.3)
    slack = ThreadedSlack()
    bridge = BridgeProcess(
        tmp_path,
        sandbox,
        None,
        **slack.settings(),
        # A listed person is not looked up with users.info, so the fax can go out while the Web API is
        # down; an unlisted one waits for Slack (tests/slack/test_slack_gate.py).
        slack_allowed_users="U0ALICE",
    )
    yield slack, bridge
    bridge.stop()
    slack.close()
    sandbox.stop()


def test_slack_outage_delays_the_status_message_but_never_doubles_it(
    world: tuple[ThreadedSlack, BridgeProcess],
) -> None:
    """With the Web API answering 503, the fax still goes out; when Slack is back one message appears, updated to delivered."""
    slack, bridge = world
    bridge.start()
    fake = slack.fake
    file = fake.add_file("F0OUTAGE", "outage.pdf", sample_pdf(2))
    slack.fake.outage = True
    body = payload("event_dm_file_share.json")
    body["event"]["files"] = [file]
    raw = json.dumps(body)
    answer = httpx.post(
        f"http://127.0.0.1:{bridge.http_port}/slack/events",
        content=raw,
        headers={"Content-Type": "application/json", **signed(raw)},
        timeout=10,
    )
    assert answer.status_code == 200
    wait_for(lambda: len(bridge.jobs()) == 1 and bridge.jobs()[0]["state"] in FINAL, 60, "the fax to end")
    assert bridge.jobs()[0]["state"] == "delivered"
    time.sleep(1.5)
    assert [c for c in fake.calls if c.method == "chat.postMessage"], (
        "nothing was even tried during the outage"
    )

    fake.outage = False
    job_id = bridge.jobs()[0]["id"]

    def final_update_seen() -> bool:
        return any(
            job_id in texts(m.blocks) and "Delivered" in texts(m.blocks) for m in fake.messages.values()
        )

    wait_for(final_update_seen, 90, "the status message to show the end")
    time.sleep(1.0)
    status_messages = [m for m in fake.messages.values() if job_id in texts(m.blocks)]
    assert len(status_messages) == 1
