"""The Slack Web API is down for a while: the status message waits, then appears once and is updated to the end."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bridge.testing import sample_pdf
from tests.helpers.waiting import wait_for
from tests.helpers.world import World
from tests.reliability.reliability_harness import FINAL
from tests.slack.slack_fakes import texts
from tests.slack.slack_harness import payload, signed

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute


def test_slack_outage_delays_the_status_message_but_never_doubles_it(
    world: World,
) -> None:
    """With the Web API answering 503, the fax still goes out; when Slack is back one message appears, updated to delivered."""
    slack = world.slack()
    bridge = world.serve(
        world.sandbox(delay=0.3),
        None,
        **slack.settings(),
        # A listed person is not looked up with users.info, so the fax can go out while the Web API is
        # down; an unlisted one waits for Slack (tests/slack/test_slack_gate.py).
        slack_allowed_users="U0ALICE",
    )
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
