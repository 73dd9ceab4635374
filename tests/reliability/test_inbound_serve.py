"""Received faxes through a real `faxbridge serve`: routed to Slack and a mailbox once each, replies home, crashes.

The stand-in (`faxbridge sandbox`) is made to receive faxes through its admin route; the bridge
finds them in its message store, downloads them, and delivers them to a fake Slack (whose upload
endpoints check the flow) and a capturing relay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.testing import sample_pdf
from tests.helpers.waiting import wait_for
from tests.helpers.world import World as Processes
from tests.reliability.reliability_harness import fax_mail, send_once
from tests.slack.slack_fakes import Upload
from tests.slack.slack_harness import dm_event, signed

pytestmark = pytest.mark.slow  # real serve, stand-in, relay and Slack processes for seconds each

HOME = "+16505550100"  # the stand-in's own fax number: where its faxes arrive unless told
ROUTES = f"{HOME}=slack:C0123ABCD,email:desk@example.org"
CALLER = "+13125550123"


class World:
    """A stand-in, a capturing relay, a fake Slack and a (not yet started) serve routing to both."""

    def __init__(self, tmp: Path, **settings: str) -> None:
        self.processes = Processes(tmp)
        self.sandbox = self.processes.sandbox(delay=0.2)
        self.relay = self.processes.relay()
        self.slack = self.processes.slack()
        options = {
            "inbound_routes": ROUTES,
            **self.slack.settings(),
            "reply_retry_seconds": "0.2",
            **settings,
        }
        self.bridge = self.processes.serve(self.sandbox, self.relay, **options)

    def close(self) -> None:
        self.processes.close()

    def receive(self, *, sender: str = CALLER, to: str | None = None, pages: int = 2) -> int:
        params = {"from": sender, **({"to": to} if to else {})}
        answer = httpx.post(
            f"{self.sandbox.url}/_standin/inbound",
            params=params,
            content=sample_pdf(pages, text="reply"),
            timeout=10,
        )
        answer.raise_for_status()
        return int(answer.json()["id"])

    def shared(self, channel: str, kind: str = ".pdf") -> list[Upload]:
        """The faxes (or, with kind=".png", their page-1 previews) shared in a channel."""
        return [u for u in self.slack.fake.shared(channel) if u.filename.endswith(kind)]

    def mails(self, fragment: str = "faxbridge.received.") -> list[Any]:
        return [m.message for m in self.relay.mails if fragment in str(m.message["Message-ID"])]

    def inbox(self) -> list[dict[str, Any]]:
        return list(json.loads(self.bridge.run("inbox", "--json", check=True).stdout))

    def delivered(self, count: int) -> bool:
        faxes = self.inbox()
        states = [d["state"] for fax in faxes for d in fax["deliveries"]]
        return len(states) == count and all(state == "done" for state in states)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    yield made
    made.close()


def test_a_routed_fax_reaches_its_slack_channel_and_its_mailbox_once_each(world: World) -> None:
    """The channel gets the PDF with one line, the mailbox one mail with it attached; no second copy later."""
    world.bridge.start()
    world.receive(pages=3)
    wait_for(lambda: world.delivered(2), 60, "both deliveries to be done")
    (upload,) = world.shared("C0123ABCD")
    assert upload.data is not None and upload.data.startswith(b"%PDF-")
    assert upload.comment.startswith("Fax from +1 312-555-0123 to +1 650-555-0100, 3 pages")
    (mail,) = world.mails()
    assert mail["Subject"] == "Fax from +1 312-555-0123 (3 pages)"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["To"] == "desk@example.org"
    (preview,) = world.shared("C0123ABCD", ".png")  # FAXBRIDGE_INBOUND_PREVIEW is on by default
    assert preview.data is not None and preview.data.startswith(b"\x89PNG")
    methods = [c.method for c in world.slack.fake.calls if c.method.startswith("files.")]
    assert methods == ["files.getUploadURLExternal"] * 2 + ["files.completeUploadExternal"]
    # Many more looks at the message store later, still one copy each.
    requests = len(world.sandbox.requests())
    wait_for(lambda: len(world.sandbox.requests()) > requests + 10, 30, "more looks at the message store")
    assert len(world.shared("C0123ABCD")) == 1 and len(world.mails()) == 1


def test_an_unrouted_fax_is_kept_and_listed(world: World) -> None:
    """A fax to a number no route names is kept, listed by `faxbridge inbox` with the reason, delivered nowhere."""
    world.bridge.start()
    world.receive(to="+16505550111")
    wait_for(lambda: len(world.inbox()) == 1, 60, "the fax to be kept")
    (fax,) = world.inbox()
    assert fax["deliveries"] == [] and fax["to"] == "+16505550111"
    assert "no route" in fax["note"]
    assert world.shared("C0123ABCD") == [] and world.mails() == []
    assert "no route for +1 650-555-0111" in world.bridge.log.read_text()


def test_a_reply_to_a_mailed_fax_threads_to_the_original_mail(world: World) -> None:
    """Ann faxed the caller by mail; the caller's fax comes back to her, In-Reply-To her mail."""
    world.bridge.start()
    assert send_once(world.bridge.smtp_port, fax_mail(1, to=CALLER.lstrip("+")))[0] == 250
    wait_for(lambda: len(world.bridge.jobs()) == 1, 30, "the fax job")
    world.receive()
    wait_for(lambda: world.delivered(3), 60, "routes and the reply home to be delivered")
    (home,) = [m for m in world.mails() if m["To"] == "ann@example.com"]
    assert home["In-Reply-To"] == "<reliability-1@example.com>"
    assert "<reliability-1@example.com>" in home["References"]


def _slack_fax(world: World) -> None:
    """Alice faxes the caller from a DM in Slack (the DM's message is the fax's thread)."""
    fake = world.slack.fake
    file = world.slack.thread.call(_add_file(fake))
    raw = json.dumps(dm_event(file, text=f"please fax to {CALLER}"))
    headers = {"Content-Type": "application/json", **signed(raw)}
    url = f"http://127.0.0.1:{world.bridge.http_port}/slack/events"
    assert httpx.post(url, content=raw, headers=headers, timeout=10).status_code == 200


async def _add_file(fake: Any) -> dict[str, Any]:
    result: dict[str, Any] = fake.add_file("F0OUT", "out.pdf", sample_pdf(1))
    return result


def test_a_reply_to_a_slack_fax_lands_in_its_thread(world: World) -> None:
    """Alice faxed the caller from Slack; the caller's fax is uploaded into that fax's thread."""
    world.bridge.start()
    _slack_fax(world)
    wait_for(lambda: len(world.bridge.jobs()) == 1, 30, "the Slack fax job")
    world.receive()
    wait_for(lambda: world.delivered(3), 60, "routes and the reply home to be delivered")
    (home,) = world.shared("D0ALICE")
    assert home.thread_ts == "1764158500.000200"


def test_two_senders_means_the_routes_only(world: World) -> None:
    """Ann (mail) and Alice (Slack) both faxed the caller: the reply goes to the routes, and the inbox says why."""
    world.bridge.start()
    assert send_once(world.bridge.smtp_port, fax_mail(2, to=CALLER.lstrip("+")))[0] == 250
    _slack_fax(world)
    wait_for(lambda: len(world.bridge.jobs()) == 2, 30, "both fax jobs")
    world.receive()
    wait_for(lambda: world.delivered(2), 60, "the routed deliveries")
    (fax,) = world.inbox()
    assert [d["destination"] for d in fax["deliveries"]] == ["slack:C0123ABCD", "email:desk@example.org"]
    assert "2 people faxed +1 312-555-0123" in fax["note"]
    assert world.shared("D0ALICE") == []
    assert [m for m in world.mails() if m["To"] == "ann@example.com"] == []


def test_sigkill_during_the_download_then_restart_delivers_once_each(world: World) -> None:
    """Killed while the document downloads, the bridge downloads it again after restart; each destination once."""
    world.sandbox.fault(r".*/content/.*", "hang", method="GET")
    world.bridge.start()
    world.receive()
    wait_for(lambda: world.sandbox.faults_left() == 0, 30, "the download to begin (and hang)")
    world.bridge.kill()
    assert world.inbox() == []
    world.bridge.start()
    wait_for(lambda: world.delivered(2), 60, "both deliveries after the restart")
    assert len(world.shared("C0123ABCD")) == 1 and len(world.mails()) == 1


def test_sigkill_during_the_slack_upload_then_restart_posts_once(world: World) -> None:
    """Killed while the PDF is being uploaded to Slack: after restart the channel has it exactly once."""
    world.slack.fake.upload_hold = 60.0
    world.bridge.start()
    world.receive()
    wait_for(lambda: world.slack.fake.uploading == 1, 60, "the upload to begin")
    world.bridge.kill()
    world.slack.fake.upload_hold = 0.0
    world.bridge.start()
    wait_for(lambda: world.delivered(2), 60, "both deliveries after the restart")
    assert len(world.shared("C0123ABCD")) == 1
    assert len(world.mails()) == 1


def test_sigkill_during_the_mail_then_restart_mails_once(world: World) -> None:
    """Killed while the relay holds the mail: after restart the mailbox has it exactly once."""
    world.relay.relay.handler.hold = 60.0
    world.bridge.start()
    world.receive()
    wait_for(lambda: world.relay.relay.handler.holding == 1, 60, "the mail to be handed to the relay")
    world.bridge.kill()
    world.relay.relay.handler.hold = 0.0
    world.bridge.start()
    wait_for(lambda: world.delivered(2), 60, "both deliveries after the restart")
    ids = {str(m["Message-ID"]) for m in world.mails()}
    assert len(ids) == 1 and len(world.mails()) == 1
    assert len(world.shared("C0123ABCD")) == 1


def test_webhook_and_poller_together_deliver_once_per_destination(tmp_path: Path) -> None:
    """With the webhook set, the inbound fax event wakes a look while polling goes on: one copy each."""
    made = World(tmp_path, poll_seconds="0.2")
    try:
        made.bridge.env["FAXBRIDGE_RINGCENTRAL_WEBHOOK_URL"] = (
            f"http://127.0.0.1:{made.bridge.http_port}/ringcentral/webhook"
        )
        made.bridge.start()
        for _ in range(3):
            made.receive()
        wait_for(lambda: made.delivered(6), 60, "every delivery")
        events = httpx.get(f"{made.sandbox.url}/_standin/notifications", timeout=10).json()["records"]
        inbound = [e for e in events if str(e["payload"].get("event", "")).endswith("fax?direction=Inbound")]
        assert len(inbound) == 3 and all(e["status"] == 200 for e in inbound)
        assert len(made.shared("C0123ABCD")) == 3 and len(made.mails()) == 3
    finally:
        made.close()
