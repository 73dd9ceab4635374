"""Slack over HTTP: signed requests to a bridge's real `/slack/events` route; a fake Slack on loopback."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bridge.model import Channel, DocumentRole
from bridge.states import JobState
from tests.slack.slack_fakes import BOT_TOKEN, FakeSlack, action_ids, texts
from tests.slack.slack_harness import SlackBridge, payload, slack_bridge

THREAD = "1764158500.000200"  # the ts of the DM in event_dm_file_share.json


async def test_command_acks_at_once_and_opens_the_modal_prefilled(slack: SlackBridge) -> None:
    """`/fax +1 202 555 0123 note` is acked within 3 s and opens the modal with number and note filled in."""
    started = time.monotonic()
    response = await slack.command()
    assert time.monotonic() - started < 3.0
    assert response.status_code == 200
    assert response.text == ""
    await slack.settle()
    [call] = slack.fake.called("views.open")
    assert call.args["trigger_id"] == "1111.2222.0123456789abcdef"
    view = call.args["view"]
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["number"]["element"]["initial_value"] == "+1 202 555 0123"
    assert blocks["note"]["element"]["initial_value"] == "Please sign page 2 and fax it back"
    assert blocks["files"]["element"]["type"] == "file_input"
    assert blocks["files"]["element"]["max_files"] == 10
    assert "pdf" in blocks["files"]["element"]["filetypes"]
    assert json.loads(view["private_metadata"]) == {
        "channel": "C0FAXDESK",
        "user": "U0ALICE",
        "team": "T0FAX",
        "thread_ts": "",
    }


async def test_command_text_with_a_tel_token_prefills_the_number(slack: SlackBridge) -> None:
    """Slack's `<tel:...|...>` rewriting of a typed number is understood when prefilling the modal."""
    await slack.command(text="<tel:+12025550123|+1 (202) 555-0123> urgent")
    await slack.settle()
    [call] = slack.fake.called("views.open")
    blocks = {b["block_id"]: b for b in call.args["view"]["blocks"]}
    assert blocks["number"]["element"]["initial_value"] == "+12025550123"
    assert blocks["note"]["element"]["initial_value"] == "urgent"


async def test_submission_faxes_two_pdfs_in_order_and_updates_one_status_message(slack: SlackBridge) -> None:
    """Two PDFs from the modal are faxed after the cover, in order; one message goes queued → delivered."""
    first = slack.pdf("F0FIRST", "first.pdf", 2)
    second = slack.pdf("F0SECOND", "second.pdf", 1)
    response = await slack.interact(slack.submission([first, second]))
    assert response.status_code == 200
    assert response.text == ""  # an empty ack closes the modal
    await slack.settle()

    [job] = await slack.jobs()
    assert job.state is JobState.QUEUED
    assert job.to == "+12025550123"
    assert job.origin.channel is Channel.SLACK
    assert job.origin.sender == "U0ALICE"
    [post] = slack.fake.posts()
    assert post.args["channel"] == "C0FAXDESK"
    message = slack.fake.messages[("C0FAXDESK", post.args["_ts"])]
    assert message.text == "Fax to +1 202-555-0123: Queued."
    assert "first.pdf (2 pages)" in texts(message.blocks)
    assert "second.pdf (1 page)" in texts(message.blocks)
    assert action_ids(message.blocks) == ["faxbridge_cancel"]

    await slack.finish_jobs()

    [(fax, blobs)] = slack.provider.sent
    assert [d.role for d in fax.documents] == [
        DocumentRole.COVER,
        DocumentRole.DOCUMENT,
        DocumentRole.DOCUMENT,
    ]
    assert [d.name for d in fax.documents[1:]] == ["first.pdf", "second.pdf"]
    assert blobs[1:] == [slack.fake.files["F0FIRST"][1], slack.fake.files["F0SECOND"][1]]
    assert len(slack.fake.called("chat.postMessage")) == 1
    updates = slack.fake.called("chat.update")
    assert updates
    assert {(u.args["channel"], u.args["ts"]) for u in updates} == {("C0FAXDESK", post.args["_ts"])}
    assert message.text.startswith("Fax to +1 202-555-0123: Delivered")
    assert action_ids(message.blocks) == []
    assert [d.authorization for d in slack.fake.downloads] == [f"Bearer {BOT_TOKEN}"] * 2


@pytest.mark.parametrize(
    ("number", "with_file", "field", "words"),
    [
        ("call me maybe", True, "number", "is not a fax number"),
        ("+1 900 555 0123", True, "number", "premium-rate numbers are not allowed"),
        ("", True, "number", "Enter the fax number"),
        ("+1 202 555 0123", False, "files", "Add at least one file to fax."),
    ],
)
async def test_submission_problems_are_inline_errors(
    slack: SlackBridge, number: str, with_file: bool, field: str, words: str
) -> None:
    """A bad or premium-rate number, or no file, is an error on its field; the modal stays open."""
    files = [slack.pdf("F0FIRST", "first.pdf", 1)] if with_file else []
    response = await slack.interact(slack.submission(files, number=number))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert words in answer["errors"][field]
    await slack.settle()
    assert await slack.jobs() == []
    assert slack.fake.downloads == []
    assert slack.fake.called("chat.postMessage") == []


async def test_dm_with_files_and_a_number_faxes_them_in_the_order_shared(slack: SlackBridge) -> None:
    """Files in a DM with a number in the text are faxed in their order; the status goes in that thread."""
    contract = slack.pdf("F0CONTRACT", "contract.pdf", 3)
    annex = slack.pdf("F0ANNEX", "annex.pdf", 1)
    response = await slack.event(slack.dm(contract, annex))
    assert response.status_code == 200
    await slack.settle()

    [job] = await slack.jobs()
    assert job.to == "+12025550123"
    assert job.origin.sender_name == "Alice Example"
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == ["contract.pdf", "annex.pdf"]
    [post] = slack.fake.posts()
    assert post.args["channel"] == "D0ALICE"
    assert post.args["thread_ts"] == THREAD

    await slack.finish_jobs()
    [(_, blobs)] = slack.provider.sent
    assert blobs[1:] == [slack.fake.files["F0CONTRACT"][1], slack.fake.files["F0ANNEX"][1]]


async def test_dm_without_a_number_gets_a_thread_reply_saying_what_is_missing(slack: SlackBridge) -> None:
    """Files in a DM with no number get a reply in the thread asking for the number; nothing is downloaded."""
    await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1), text="here is the form"))
    await slack.settle()
    [reply] = slack.fake.called("chat.postMessage")
    assert reply.args["channel"] == "D0ALICE"
    assert reply.args["thread_ts"] == THREAD
    assert "I have 1 file but no fax number" in reply.args["text"]
    assert await slack.jobs() == []
    assert slack.fake.downloads == []


async def test_mention_with_files_faxes_them_in_the_channel_thread(slack: SlackBridge) -> None:
    """A message that mentions the bot, with files and a number, is faxed and followed in its thread."""
    body = payload("event_app_mention.json")
    body["event"]["files"] = [slack.pdf("F0FIRST", "first.pdf", 1)]
    assert (await slack.event(body)).status_code == 200
    await slack.settle()
    [job] = await slack.jobs()
    assert job.origin.reply["thread_ts"] == "1764158600.000300"
    [post] = slack.fake.posts()
    assert (post.args["channel"], post.args["thread_ts"]) == ("C0FAXDESK", "1764158600.000300")


async def test_message_shortcut_opens_the_modal_with_the_files_then_faxes_them(slack: SlackBridge) -> None:
    """Send as fax lists the message's files and number in the modal; submitting faxes them in its thread."""
    body = payload("message_action.json")
    body["message"]["files"] = [slack.pdf("F0SCAN1", "scan-1.pdf", 1), slack.pdf("F0SCAN2", "scan-2.pdf", 2)]
    response = await slack.interact(body)
    assert response.status_code == 200
    await slack.settle()

    [opened] = slack.fake.called("views.open")
    view = opened.args["view"]
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["number"]["element"]["initial_value"] == "+12025550123"
    assert blocks["files"]["type"] == "section"
    assert "• scan-1.pdf\n• scan-2.pdf" in blocks["files"]["text"]["text"]
    metadata = json.loads(view["private_metadata"])
    assert metadata["files"] == ["F0SCAN1", "F0SCAN2"]
    assert metadata["thread_ts"] == "1764158650.000400"

    submit = payload("view_submission.json")
    submit["view"]["private_metadata"] = view["private_metadata"]
    del submit["view"]["state"]["values"]["files"]
    submit["view"]["state"]["values"]["number"]["number"]["value"] = "+12025550123"
    response = await slack.interact(submit)
    assert response.text == ""
    await slack.settle()

    assert [c.args["file"] for c in slack.fake.called("files.info")] == ["F0SCAN1", "F0SCAN2"]
    [job] = await slack.jobs()
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == ["scan-1.pdf", "scan-2.pdf"]
    [post] = slack.fake.posts()
    assert (post.args["channel"], post.args["thread_ts"]) == ("C0FAXDESK", "1764158650.000400")


async def test_retried_event_sends_nothing_new(slack: SlackBridge) -> None:
    """A retried event (X-Slack-Retry-Num: 1) is answered 200 and makes no second job, download or message."""
    body = slack.dm(slack.pdf("F0FIRST", "first.pdf", 1))
    assert (await slack.event(body)).status_code == 200
    await slack.settle()
    downloads, posts = len(slack.fake.downloads), len(slack.fake.called("chat.postMessage"))

    again = await slack.event(body, retry=1)
    assert again.status_code == 200
    await slack.settle()
    await slack.finish_jobs()

    assert len(await slack.jobs()) == 1
    assert len(slack.fake.downloads) == downloads == 1
    assert len(slack.fake.called("chat.postMessage")) == posts == 1
    assert len(slack.provider.sent) == 1


async def test_retried_event_after_a_restart_sends_nothing_new(tmp_path: Path) -> None:
    """Event ids are remembered in the store, so a retry arriving after a restart is still recognised."""
    async with slack_bridge(tmp_path) as slack:
        body = slack.dm(slack.pdf("F0FIRST", "first.pdf", 1))
        await slack.event(body)
        await slack.settle()
    async with slack_bridge(tmp_path) as slack:
        slack.pdf("F0FIRST", "first.pdf", 1)
        assert (await slack.event(body, retry=2)).status_code == 200
        await slack.settle()
        assert len(await slack.jobs()) == 1
        assert slack.fake.downloads == []
        assert slack.fake.called("chat.postMessage") == []


async def test_status_message_is_updated_in_place_after_a_restart(tmp_path: Path) -> None:
    """Which message shows which job is kept on disk, so a restarted bridge updates it instead of posting anew."""
    fake = FakeSlack()
    await fake.start()
    try:
        async with slack_bridge(tmp_path, fake=fake) as slack:
            await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
            await slack.settle()
        async with slack_bridge(tmp_path, fake=fake) as slack:
            await slack.finish_jobs()
        [post] = fake.posts()
        [update] = fake.called("chat.update")
        assert (update.args["channel"], update.args["ts"]) == ("C0FAXDESK", post.args["_ts"])
        assert fake.messages[("C0FAXDESK", post.args["_ts"])].text.startswith(
            "Fax to +1 202-555-0123: Delivered"
        )
    finally:
        await fake.close()


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-signing-secret", 0), (None, 6 * 60)],
    ids=["forged", "stale"],
)
async def test_badly_signed_requests_are_refused(slack: SlackBridge, secret: str | None, age: int) -> None:
    """A request signed with the wrong secret, or signed over 5 minutes ago, gets 401 and does nothing."""
    form = urlencode(payload("command_fax.json"))
    kwargs = {"secret": secret} if secret else {}
    response = await slack.post(
        form, "application/x-www-form-urlencoded", timestamp=int(time.time()) - age, **kwargs
    )
    assert response.status_code == 401
    await slack.settle()
    assert slack.fake.called("views.open") == []


async def test_unsigned_request_is_refused(slack: SlackBridge) -> None:
    """A request without Slack's signature headers gets 401."""
    response = await slack.http.post(
        f"{slack.url}/slack/events",
        content=json.dumps(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1))),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401
    await slack.settle()
    assert await slack.jobs() == []


async def test_file_on_a_foreign_host_never_receives_the_token(slack: SlackBridge) -> None:
    """A file URL outside FAXBRIDGE_SLACK_FILE_HOSTS is never contacted; the sender is told which and why."""
    invoice = slack.pdf("F0EVIL", "invoice.pdf", 1)
    invoice["url_private"] = invoice["url_private_download"] = f"{slack.foreign.url}/download/invoice.pdf"
    await slack.event(slack.dm(invoice))
    await slack.settle()
    assert slack.foreign.requests == []
    assert slack.fake.downloads == []
    assert await slack.jobs() == []
    [reply] = slack.fake.called("chat.postMessage")
    assert reply.args["thread_ts"] == THREAD
    assert "invoice.pdf" in reply.args["text"]
    assert "not a Slack file host" in reply.args["text"]


async def test_redirect_to_a_foreign_host_is_not_followed(slack: SlackBridge) -> None:
    """A download redirected off the listed hosts stops there, so the token never leaves them."""
    moved = slack.pdf("F0MOVED", "moved.pdf", 1)
    slack.fake.redirects["F0MOVED"] = f"{slack.foreign.url}/elsewhere/moved.pdf"
    await slack.event(slack.dm(moved))
    await slack.settle()
    assert len(slack.fake.downloads) == 1
    assert slack.foreign.requests == []
    assert await slack.jobs() == []
    [reply] = slack.fake.called("chat.postMessage")
    assert "moved.pdf" in reply.args["text"]


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
async def test_sign_in_page_instead_of_the_file_is_reported_as_a_setup_problem(
    slack: SlackBridge, content_type: str
) -> None:
    """Slack's HTML sign-in page (the files:read trap) is never faxed; the sender is told to add the scope."""
    slack.fake.sign_in_page_for.add("F0FIRST")
    slack.fake.sign_in_page_type = content_type
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()
    assert await slack.jobs() == []
    [told] = slack.fake.called("chat.postEphemeral")
    assert (told.args["channel"], told.args["user"]) == ("C0FAXDESK", "U0ALICE")
    assert "first.pdf" in told.args["text"]
    assert "sign-in page" in told.args["text"]
    assert "files:read" in told.args["text"]
    await slack.finish_jobs()
    assert slack.provider.sent == []


async def test_status_goes_to_the_dm_when_the_bot_cannot_post_in_the_channel(slack: SlackBridge) -> None:
    """When the bot is not_in_channel, the status message goes to the user's DM and is updated there."""
    slack.fake.not_in_channel.add("C0FAXDESK")
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()

    [opened] = slack.fake.called("conversations.open")
    assert opened.args["users"] == "U0ALICE"
    [post] = slack.fake.posts()
    assert post.args["channel"] == "D0ALICE"
    message = slack.fake.messages[("D0ALICE", post.args["_ts"])]
    assert "I cannot post in <#C0FAXDESK>" in texts(message.blocks)

    await slack.finish_jobs()
    assert {u.args["channel"] for u in slack.fake.called("chat.update")} == {"D0ALICE"}
    assert message.text.startswith("Fax to +1 202-555-0123: Delivered")


async def test_cancel_button_cancels_the_fax_and_updates_its_message(slack: SlackBridge) -> None:
    """Cancel on a queued fax cancels the job, the message says so without the button, and nothing is sent."""
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()
    [job] = await slack.jobs()
    [post] = slack.fake.posts()
    message = slack.fake.messages[("C0FAXDESK", post.args["_ts"])]
    [button] = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["value"] == job.id

    press = payload("block_actions_cancel.json")
    press["actions"][0]["value"] = button["value"]
    press["message"]["ts"] = press["container"]["message_ts"] = post.args["_ts"]
    press["message"]["blocks"] = message.blocks
    assert (await slack.interact(press)).status_code == 200
    await slack.settle()

    cancelled = await slack.bridge.store.get(job.id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.reason == "cancelled by alice in Slack"
    assert message.text == "Fax to +1 202-555-0123: Cancelled: cancelled by alice in Slack."
    assert action_ids(message.blocks) == []
    await slack.finish_jobs()
    assert slack.provider.sent == []


async def test_cancel_by_someone_else_is_refused(slack: SlackBridge) -> None:
    """Only the person who sent a fax can cancel it; anyone else is told so privately and the job goes on."""
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()
    [job] = await slack.jobs()
    press = payload("block_actions_cancel.json")
    press["actions"][0]["value"] = job.id
    press["user"] = {"id": "U0MALLORY", "username": "mallory", "name": "mallory", "team_id": "T0FAX"}
    await slack.interact(press)
    await slack.settle()
    assert (await slack.bridge.store.get(job.id)).state is JobState.QUEUED
    [told] = slack.fake.called("chat.postEphemeral")
    assert told.args["user"] == "U0MALLORY"
    assert "Only <@U0ALICE>" in told.args["text"]


async def test_rate_limited_web_api_is_waited_out(slack: SlackBridge) -> None:
    """A 429 from chat.postMessage is waited out for its Retry-After, then the message is posted once."""
    slack.fake.rate_limited["chat.postMessage"] = 1
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()
    limited, posted = slack.fake.called("chat.postMessage")
    assert posted.at - limited.at >= 1.0
    assert len(slack.fake.posts()) == 1
    assert len(slack.fake.messages) == 1


async def test_events_faxbridge_does_not_act_on_are_answered_200(slack: SlackBridge) -> None:
    """A subscribed event with nothing to do (file_shared) is acknowledged 200, so Slack does not retry it."""
    response = await slack.event(payload("event_file_shared.json"))
    assert response.status_code == 200
    await slack.settle()
    assert slack.fake.called("chat.postMessage") == []
    assert slack.fake.called("files.info") == []


async def test_stripped_slack_connect_file_is_fetched_with_files_info(slack: SlackBridge) -> None:
    """A Slack Connect file that arrives as `file_access: check_file_info` is looked up, then faxed."""
    slack.pdf("F0SHARED", "shared.pdf", 1)
    stripped = {"id": "F0SHARED", "mode": "hosted", "file_access": "check_file_info", "created": 1764158400}
    await slack.event(slack.dm(stripped))
    await slack.settle()
    assert [c.args["file"] for c in slack.fake.called("files.info")] == ["F0SHARED"]
    [job] = await slack.jobs()
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == ["shared.pdf"]


async def test_people_outside_the_allowlist_get_a_polite_refusal(tmp_path: Path) -> None:
    """With FAXBRIDGE_SLACK_ALLOWED_USERS set, anyone else's /fax gets a private refusal and no modal."""
    async with slack_bridge(tmp_path, slack_allowed_users="U0BOB") as slack:
        response = await slack.command()
        assert response.status_code == 200
        answer = response.json()
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith("Sorry, faxing from Slack is open only to some people")
        await slack.settle()
        assert slack.fake.called("views.open") == []


async def test_status_calls_in_one_channel_are_paced(slack: SlackBridge) -> None:
    """However many faxes change at once, status calls in one channel are spaced by the replier's interval."""
    slack.bridge.repliers[Channel.SLACK].min_interval = 0.3  # type: ignore[attr-defined]
    for number in range(3):
        body = slack.submission([slack.pdf(f"F0{number}", f"doc{number}.pdf", 1)])
        body["view"]["hash"] = f"1764158401.hash{number}"
        await slack.interact(body)
    await slack.settle()
    moments = [c.at for c in slack.fake.called("chat.postMessage")]
    assert len(moments) == 3
    assert all(later - earlier >= 0.29 for earlier, later in itertools.pairwise(moments))


async def test_oversized_request_is_refused_with_413(slack: SlackBridge) -> None:
    """A body over the server's 2 MB cap is refused with 413 before Slack's listeners see it."""
    body = urlencode({"payload": "x" * (2 * 1024 * 1024 + 1)})
    response = await slack.post(body, "application/x-www-form-urlencoded")
    assert response.status_code == 413


async def test_url_verification_challenge_is_answered(slack: SlackBridge) -> None:
    """Saving the Request URL in Slack's app settings works: the signed challenge is echoed back."""
    challenge = {
        "token": "legacy-verification-token",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY",
        "type": "url_verification",
    }
    response = await slack.event(challenge)
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}
