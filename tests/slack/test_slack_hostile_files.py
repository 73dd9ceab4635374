"""Hostile files shared in Slack: the person is told why in a message; no job, no fax, the bridge carries on.

Whether the core refuses a file (DocumentRefused) or its parser raises (today some do), the
answer is the same kind of message naming the file; these tests hold for both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bridge.states import JobState
from bridge.testing import sample_pdf
from tests.slack.hostile_shares import corrupt_deflate_docx, corrupt_stream_pdf, random_binary, zip_bomb_docx
from tests.slack.slack_harness import SlackBridge

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MB = 1024 * 1024

FILES: dict[str, tuple[str, str, Callable[[], bytes]]] = {
    "zip-bomb docx": ("report.docx", DOCX, zip_bomb_docx),
    "docx with a corrupt deflate stream": ("minutes.docx", DOCX, corrupt_deflate_docx),
    "pdf with a corrupt stream": ("scan.pdf", "application/pdf", corrupt_stream_pdf),
    "random binary named .pdf": ("invoice.pdf", "application/pdf", lambda: random_binary(1)),
    "random binary named .txt": ("notes.txt", "text/plain", lambda: random_binary(2)),
}


@pytest.mark.parametrize("case", sorted(FILES))
async def test_a_hostile_file_gets_a_message_saying_why(
    slack: SlackBridge, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """Each hostile file shared in a DM is answered with a message naming it and the reason; nothing is faxed."""
    name, mimetype, build = FILES[case]
    file = slack.fake.add_file("F0HOSTILE", name, build(), mimetype=mimetype)
    with caplog.at_level(logging.INFO):
        await slack.event(slack.dm(file))
        await slack.settle()
    [said] = await slack.told()
    assert said.startswith(f"Your fax to +1 202-555-0123 was not sent: {name}: ")
    assert len(said) > len(f"Your fax to +1 202-555-0123 was not sent: {name}: ") + 10  # a reason follows
    assert all(job.state is JobState.REJECTED for job in await slack.jobs())  # kept as refused, if at all
    await slack.finish_jobs()
    assert slack.provider.sent == []
    assert "Traceback" not in caplog.text  # refused or caught at the boundary, not crashed through

    # The bridge carries on: the next, ordinary file from the same person is faxed.
    ordinary = slack.fake.add_file("F0FINE", "fine.pdf", sample_pdf(1))
    body = slack.dm(ordinary)
    body["event_id"], body["event"]["ts"] = "Ev0FINE", "1764158999.000100"
    await slack.event(body)
    await slack.settle()
    await slack.finish_jobs()
    assert len(slack.provider.sent) == 1


@pytest.mark.parametrize("served_as", ["text/html", "application/octet-stream"])
async def test_an_html_page_instead_of_the_file_is_told(slack: SlackBridge, served_as: str) -> None:
    """Slack's sign-in page served in place of a shared file is never faxed; the person hears why."""
    file = slack.pdf("F0PAGE", "contract.pdf", 1)
    slack.fake.sign_in_page_for.add("F0PAGE")
    slack.fake.sign_in_page_type = served_as
    await slack.event(slack.dm(file))
    await slack.settle()
    [said] = await slack.told()
    assert said.startswith(
        "Your fax to +1 202-555-0123 was not sent: contract.pdf: Slack returned a sign-in page"
    )
    assert await slack.jobs() == []


async def test_an_oversized_file_is_told_before_it_is_downloaded(slack: SlackBridge) -> None:
    """A file Slack says is 60 MB is refused with its size, without fetching a byte of it."""
    file = slack.pdf("F0HUGE", "huge.pdf", 1)
    file["size"] = 60 * MB
    await slack.event(slack.dm(file))
    await slack.settle()
    assert await slack.told() == [
        "Your fax to +1 202-555-0123 was not sent: huge.pdf: the file is 60.0 MB; at most 50 MB can be faxed."
    ]
    assert slack.fake.downloads == []
