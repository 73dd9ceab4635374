"""A real `faxbridge serve` killed (SIGKILL) or stopped (SIGTERM) while downloading a Slack file: sent once, told."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from bridge.testing import sample_pdf
from tests.helpers.processes import Serve
from tests.helpers.waiting import wait_for
from tests.helpers.world import World
from tests.slack.slack_fakes import texts
from tests.slack.slack_harness import dm_event, signed

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute


def _post(bridge: Serve, body: dict[str, object], retry: int | None = None) -> int:
    raw = json.dumps(body)
    headers = {"Content-Type": "application/json", **signed(raw)}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    url = f"http://127.0.0.1:{bridge.http_port}/slack/events"
    return httpx.post(url, content=raw, headers=headers, timeout=10).status_code


def _finished_requests(bridge: Serve) -> list[bool]:
    conn = sqlite3.connect(f"file:{bridge.data_dir / 'faxbridge.db'}?mode=ro", uri=True)
    try:
        return [row[0] is not None for row in conn.execute("SELECT finished FROM request_inbox ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_stopped_during_a_slack_download_the_fax_is_sent_once_and_the_person_told(
    world: World, how: str
) -> None:
    """Stopped mid-download, serve keeps the request; restarted, it downloads again, faxes once and tells the person."""
    slack = world.slack()
    sandbox = world.sandbox(delay=0.2)
    bridge = world.serve(sandbox, None, **slack.settings())
    fake = slack.fake
    bridge.start()
    file = fake.add_file("F0CRASH", "crash.pdf", sample_pdf(2, text="crash"))
    fake.slow["F0CRASH"] = 60.0
    body = dm_event(file)
    assert _post(bridge, body) == 200
    wait_for(lambda: fake.downloading == 1, 30, "the download to begin")
    if how == "SIGKILL":
        bridge.kill()
    else:
        assert bridge.stop() == 0
    assert bridge.jobs() == []
    assert _finished_requests(bridge) == [False]

    fake.slow.clear()
    bridge.start()
    assert _post(bridge, body, retry=1) == 200  # Slack's retry of the same event is recognised
    wait_for(lambda: [j["state"] for j in bridge.jobs()] == ["delivered"], 60, "the fax to be delivered")
    [job] = bridge.jobs()

    def told_delivered() -> bool:
        return any(
            job["id"] in texts(m.blocks) and "Delivered" in texts(m.blocks) for m in fake.messages.values()
        )

    wait_for(told_delivered, 60, "the status message to say delivered")
    wait_for(lambda: _finished_requests(bridge) == [True], 30, "the request to be finished")
    faxes = [r for r in sandbox.messages() if any(p.get("filename") == "crash.pdf" for p in r["parts"])]
    assert len(faxes) == 1
    assert len(fake.downloads) == 2
    status = [m for m in fake.messages.values() if job["id"] in texts(m.blocks)]
    assert len(status) == 1
    assert (status[0].channel, status[0].thread_ts) == ("D0ALICE", "1764158500.000200")
