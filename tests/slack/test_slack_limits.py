"""Slack downloads are bounded: 50 MB across a request's files, 10 files, a few requests downloading at once."""

from __future__ import annotations

from typing import Any

from adapters.slack.files import MAX_DOWNLOADING, MAX_FILES
from tests.slack.slack_harness import SlackBridge, payload

MB = 1024 * 1024


def _big(
    slack: SlackBridge, file_id: str, name: str, size: int, *, declared: int | None = None
) -> dict[str, Any]:
    """A file of `size` real bytes that Slack describes as `declared` bytes (its real size by default)."""
    file = slack.fake.add_file(file_id, name, b"%PDF-1.4\n" + b"0" * (size - 9))
    if declared is not None:
        file["size"] = declared
    return file


async def test_files_over_50_mb_together_are_refused_before_any_download(slack: SlackBridge) -> None:
    """Two files Slack says weigh 30 MB each are refused at once, with the total, and nothing is fetched."""
    first = _big(slack, "F0A", "a.pdf", 1000, declared=30 * MB)
    second = _big(slack, "F0B", "b.pdf", 1000, declared=30 * MB)
    await slack.event(slack.dm(first, second))
    await slack.settle()
    assert await slack.told() == [
        "Your fax to +1 202-555-0123 was not sent: the files come to 60.0 MB together; "
        "at most 50 MB can be faxed at once."
    ]
    assert slack.fake.downloads == []
    assert await slack.jobs() == []


async def test_the_total_cap_holds_on_the_bytes_not_on_what_slack_says(slack: SlackBridge) -> None:
    """Files whose size Slack leaves out are counted as they arrive; the one that passes 50 MB stops it all.

    Mutation: a cap per file instead of per request lets both 30 MB files through.
    """
    first = _big(slack, "F0A", "a.pdf", 30 * MB, declared=0)
    second = _big(slack, "F0B", "b.pdf", 30 * MB, declared=0)
    await slack.event(slack.dm(first, second))
    await slack.settle()
    [said] = await slack.told()
    assert said.startswith("Your fax to +1 202-555-0123 was not sent: b.pdf: the files come to")
    assert said.endswith("at most 50 MB can be faxed at once.")
    assert await slack.jobs() == []


async def test_too_many_files_are_refused_on_every_way_in(slack: SlackBridge) -> None:
    """Eleven files in a DM, the form or a Send as fax message are refused with the cap; none is fetched."""
    files = [slack.pdf(f"F0{n:02}", f"doc{n}.pdf", 1) for n in range(MAX_FILES + 1)]
    await slack.event(slack.dm(*files))
    answer = (await slack.interact(slack.submission(files))).json()
    shortcut = payload("message_action.json")
    shortcut["message"]["files"] = files
    await slack.interact(shortcut)
    await slack.settle()

    too_many = f"11 files were shared; at most {MAX_FILES} can be faxed at once"
    assert answer == {
        "response_action": "errors",
        "errors": {"files": too_many[:1].upper() + too_many[1:] + "."},
    }
    assert sorted(await slack.told()) == [
        f"I cannot fax this: {too_many}.",  # the shortcut's
        f"Your fax to +1 202-555-0123 was not sent: {too_many}.",  # the DM's
    ]
    assert slack.fake.called("views.open") == []
    assert slack.fake.downloads == []
    assert await slack.jobs() == []


async def test_a_form_over_50_mb_is_an_error_on_the_form(slack: SlackBridge) -> None:
    """Files the picker says come to more than 50 MB keep the form open with the total."""
    first = _big(slack, "F0A", "a.pdf", 1000, declared=26 * MB)
    second = _big(slack, "F0B", "b.pdf", 1000, declared=26 * MB)
    answer = (await slack.interact(slack.submission([first, second]))).json()
    assert answer["response_action"] == "errors"
    assert (
        answer["errors"]["files"] == "The files come to 52.0 MB together; at most 50 MB can be faxed at once."
    )
    await slack.settle()
    assert slack.fake.downloads == []


async def test_only_a_few_requests_download_at_once(slack: SlackBridge) -> None:
    """Six requests with slow files download at most MAX_DOWNLOADING at a time (mutation: no cap: six)."""
    for number in range(6):
        body = slack.dm(slack.pdf(f"F0S{number}", f"slow{number}.pdf", 1))
        slack.fake.slow[f"F0S{number}"] = 1.0
        body["event_id"] = f"EvSLOW{number}"
        body["event"]["ts"] = f"1764158500.00040{number}"
        assert (await slack.event(body)).status_code == 200
    await slack.settle()
    assert slack.fake.most_downloading == MAX_DOWNLOADING
    assert len(await slack.jobs()) == 6
