"""Documents by link from Slack: links in a DM, a mention or the form's note are fetched in order, or refused aloud."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.model import DocumentRole
from tests.helpers.links import LinkServer, link_server
from tests.slack.slack_harness import SlackBridge, slack_bridge

NUMBER = "<tel:+12025550123|+1 202 555 0123>"


@pytest.fixture
async def docs() -> AsyncIterator[LinkServer]:
    async with link_server(tls=False) as server:
        yield server


@pytest.fixture
async def slack(tmp_path: Path, docs: LinkServer) -> AsyncIterator[SlackBridge]:
    """Slack with the document server's loopback port listed, as an intranet's would be."""
    async with slack_bridge(tmp_path, fetch_allowed_hosts=f"127.0.0.1:{docs.port}") as harness:
        yield harness


def _link(docs: LinkServer, path: str) -> str:
    return docs.url(path, host="127.0.0.1")


def _message(slack: SlackBridge, text: str, *files: dict[str, object]) -> dict[str, object]:
    body = slack.dm(*files, text=text)
    if not files:
        body["event"].pop("subtype")  # a plain message, as Slack sends one without files
    return body


async def test_links_in_a_dm_are_faxed_in_the_order_written_before_the_files(
    slack: SlackBridge, docs: LinkServer
) -> None:
    """Two links and a shared file: the links' bytes in the order written, then the file; the links leave the note."""
    second, first = _link(docs, "/doc/b.pdf"), _link(docs, "/doc/a.pdf")
    shared = slack.pdf("F0SCAN", "scan.pdf", 1)
    text = f"fax <{second}> and <{first}|the first one> to {NUMBER} for Dr. Gray"
    assert (await slack.event(_message(slack, text, shared))).status_code == 200
    await slack.settle()
    [job] = await slack.jobs()
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == [
        "b.pdf",
        "a.pdf",
        "scan.pdf",
    ]
    await slack.finish_jobs()
    [(fax, blobs)] = slack.provider.sent
    assert blobs[1:] == [docs.documents["b.pdf"], docs.documents["a.pdf"], slack.fake.files["F0SCAN"][1]]
    assert fax.documents[0].role is DocumentRole.COVER
    assert docs.hits["/doc/b.pdf"] == docs.hits["/doc/a.pdf"] == 1
    # The link is never handed the bot token, nor anything else of Slack's.
    assert all("authorization" not in {k.lower() for k in seen} for seen in docs.headers_seen)


async def test_a_link_alone_in_a_mention_is_a_fax(slack: SlackBridge, docs: LinkServer) -> None:
    """A mention with a link and a number, and no file, faxes the linked document."""
    body = _message(slack, f"<@U0BOT> fax {_link(docs, '/doc/a.pdf')} to +1 202 555 0123")
    assert (await slack.event(body)).status_code == 200
    await slack.settle()
    [job] = await slack.jobs()
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == ["a.pdf"]


async def test_a_link_in_the_form_note_is_fetched_without_any_file(
    slack: SlackBridge, docs: LinkServer
) -> None:
    """The /fax form accepts a note with a link and no file; the link's document is faxed."""
    body = slack.submission([])
    body["view"]["state"]["values"]["note"]["note"]["value"] = f"{_link(docs, '/doc/b.pdf')} please sign"
    response = await slack.interact(body)
    assert (response.status_code, response.text) == (200, "")
    await slack.settle()
    [job] = await slack.jobs()
    assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == ["b.pdf"]
    assert job.pages == 3  # the cover, then the two pages behind the link
    cover = job.documents[0].sheet
    assert cover is not None and cover.cover.note == "please sign"  # the link left the note


async def test_too_many_links_in_the_note_are_an_error_on_the_note(
    slack: SlackBridge, docs: LinkServer
) -> None:
    """More links than one fax may fetch keep the form open with the reason on the note; nothing is fetched."""
    body = slack.submission([])
    body["view"]["state"]["values"]["note"]["note"]["value"] = " ".join([_link(docs, "/doc/a.pdf")] * 11)
    answer = (await slack.interact(body)).json()
    assert answer["response_action"] == "errors"
    assert "At most 10 links" in answer["errors"]["note"]
    await slack.settle()
    assert await slack.jobs() == []
    assert sum(docs.hits.values()) == 0


async def test_the_command_puts_links_in_the_note_and_finds_the_number_outside_them(
    slack: SlackBridge,
) -> None:
    """`/fax https://…/2025550199.pdf +1 202 555 0123` opens the form with that number and the link in the note."""
    await slack.command(text="https://docs.example/2025550199.pdf +1 202 555 0123 sign")
    await slack.settle()
    [call] = slack.fake.called("views.open")
    blocks = {b["block_id"]: b for b in call.args["view"]["blocks"]}
    assert blocks["number"]["element"]["initial_value"] == "+1 202 555 0123"
    assert blocks["note"]["element"]["initial_value"] == "https://docs.example/2025550199.pdf sign"
    assert blocks["files"]["optional"] is True


@pytest.mark.parametrize(
    ("path", "host", "reason"),
    [
        ("/doc/a.pdf", "unlisted-port", "points into a private network"),
        ("/redirect?to=https://169.254.169.254/latest/meta-data/", "listed", "points into a private network"),
        ("/doc/a.pdf", "by-name", "uses plain http"),
        ("/page", "listed", "is a web page, not a document"),
        ("/doc/missing.pdf", "listed", "answered 404"),
    ],
)
async def test_each_refused_link_is_answered_with_its_reason_and_nothing_is_queued(
    slack: SlackBridge, docs: LinkServer, path: str, host: str, reason: str
) -> None:
    """A refused link is answered in the thread, naming the link and why; no job, no file downloaded."""
    link = {
        "listed": _link(docs, path),
        "unlisted-port": f"https://127.0.0.1:{docs.port + 1}{path}",
        "by-name": docs.url(path, host="localhost"),
    }[host]
    shared = slack.pdf("F0SCAN", "scan.pdf", 1)
    await slack.event(_message(slack, f"fax <{link}> to {NUMBER}", shared))
    await slack.settle()
    shown = link.split("?", 1)[0] + ("?…" if "?" in link else "")
    assert await slack.told() == [f"Your fax to +1 202-555-0123 was not sent: the link {shown} {reason}."]
    assert await slack.jobs() == []
    assert slack.fake.downloads == []
