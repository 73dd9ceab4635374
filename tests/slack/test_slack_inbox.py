"""The Slack inbox: a request is stored before Slack is answered and finished exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.inbox import MAX_ATTEMPTS
from bridge.errors import StoreUnavailable
from bridge.model import Channel
from bridge.ports import RequestInbox
from bridge.states import JobState
from bridge.testing import InMemoryInbox, sample_pdf
from tests.helpers.waiting import wait_until
from tests.slack.slack_fakes import FakeSlack
from tests.slack.slack_harness import SlackBridge, slack_bridge


class SlowInbox:
    """A RequestInbox that takes `delay` seconds to admit a request: does Slack's answer wait for it?"""

    def __init__(self, inner: RequestInbox, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def admit(
        self, *, channel: Channel, keys: Sequence[str], payload: str, now: datetime
    ) -> int | None:
        await asyncio.sleep(self.delay)
        return await self.inner.admit(channel=channel, keys=keys, payload=payload, now=now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FinishFails:
    """A RequestInbox whose `finish` fails once, as a disk that filled up just then would."""

    def __init__(self, inner: RequestInbox) -> None:
        self.inner = inner
        self.failed = False

    async def finish(self, item_id: int, *, now: datetime) -> None:
        if not self.failed:
            self.failed = True
            raise StoreUnavailable("disk full")
        await self.inner.finish(item_id, now=now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def stored_requests(tmp_path: Path) -> list[tuple[str | None, float | None]]:
    """(payload, finished) of every inbox row, read from the database file by another connection."""
    conn = sqlite3.connect(tmp_path / "var" / "faxbridge.db")
    try:
        return list(conn.execute("SELECT payload, finished FROM request_inbox ORDER BY id").fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("way", ["dm", "form", "cancel"])
async def test_slack_is_answered_only_after_the_request_is_stored(
    slack: SlackBridge, tmp_path: Path, way: str
) -> None:
    """Slack's 200 waits for the commit (mutation: storing after the ack, or bolt acking first, fails this)."""
    file = slack.pdf("F0FIRST", "first.pdf", 1)
    slack.fake.slow["F0FIRST"] = 1.0  # the download is still under way when we look
    slack.intake.inbox.inbox = SlowInbox(slack.bridge.inbox, delay=0.4)
    started = time.monotonic()
    if way == "dm":
        response = await slack.event(slack.dm(file))
    elif way == "form":
        response = await slack.interact(slack.submission([file]))
    else:
        press = {
            "type": "block_actions",
            "user": {"id": "U0ALICE", "name": "alice"},
            "channel": {"id": "C0FAXDESK"},
            "message": {"ts": "1764158400.000100"},
            "actions": [{"action_id": "faxbridge_cancel", "value": "nojob", "action_ts": "1764158401.1"}],
            "trigger_id": "4444.5555.abc",
        }
        response = await slack.interact(press)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4
    [(payload, _)] = stored_requests(tmp_path)
    assert payload is None or payload.startswith('{"kind":')
    await slack.settle()


async def test_shutdown_during_a_download_is_finished_after_the_restart(tmp_path: Path) -> None:
    """Stopping mid-download keeps the request; the next start downloads again and faxes it once."""
    fake = FakeSlack()
    await fake.start()
    try:
        async with slack_bridge(tmp_path, fake=fake) as slack:
            body = slack.dm(slack.pdf("F0SLOW", "slow.pdf", 2))
            fake.slow["F0SLOW"] = 30.0
            assert (await slack.event(body)).status_code == 200
            await wait_until(lambda: fake.downloading == 1)
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 5.0  # a download is dropped at once, not waited for
        assert [finished for _, finished in stored_requests(tmp_path)] == [None]

        fake.slow.clear()
        async with slack_bridge(tmp_path, fake=fake) as slack:
            await slack.settle()
            assert (await slack.event(body, retry=1)).status_code == 200  # Slack's retry, after the restart
            await slack.settle()
            await slack.finish_jobs()
            [job] = await slack.jobs()
            assert job.state is JobState.DELIVERED
            assert len(slack.provider.sent) == 1
        assert len(fake.downloads) == 2
        [status] = [m for m in fake.messages.values() if m.blocks]
        assert status.text.startswith("Fax to +1 202-555-0123: Delivered")
        assert [finished is not None for _, finished in stored_requests(tmp_path)] == [True]
    finally:
        await fake.close()


async def test_a_request_stored_as_a_job_before_a_crash_is_not_downloaded_again(tmp_path: Path) -> None:
    """When the job was committed but the request not marked done, the restart finds the job by its key.

    Mutation: without the look-up by idempotency key, the file (deleted from Slack meanwhile) is
    fetched again and the person is wrongly told their fax was not sent.
    """
    fake = FakeSlack()
    await fake.start()
    try:
        async with slack_bridge(tmp_path, fake=fake) as slack:
            slack.intake.inbox.inbox = FinishFails(slack.bridge.inbox)
            await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
            await slack.settle()
            [job] = await slack.jobs()
        del fake.files["F0FIRST"]
        async with slack_bridge(tmp_path, fake=fake) as slack:
            await slack.settle()
            await slack.finish_jobs()
            assert [j.id for j in await slack.jobs()] == [job.id]
            assert len(slack.provider.sent) == 1
            assert await slack.told() == []
        assert len(fake.downloads) == 1
        assert [finished is not None for _, finished in stored_requests(tmp_path)] == [True]
    finally:
        await fake.close()


async def test_a_retry_arriving_during_the_download_is_not_doubled(slack: SlackBridge) -> None:
    """Slack's retry of an event still being worked on is recognised at once; one download, one fax."""
    body = slack.dm(slack.pdf("F0SLOW", "slow.pdf", 1))
    slack.fake.slow["F0SLOW"] = 0.5
    await slack.event(body)
    await slack.event(body, retry=1)
    await slack.event(body, retry=2)
    await slack.settle()
    await slack.finish_jobs()
    assert len(await slack.jobs()) == 1
    assert len(slack.fake.downloads) == 1
    assert len(slack.provider.sent) == 1


async def test_an_answer_slack_would_not_take_is_given_once_it_is_back(slack: SlackBridge) -> None:
    """During a Slack outage the answer waits in the store; when Slack is back it is given exactly once."""
    slack.intake.inbox.retry_seconds = 0.1
    slack.intake.inbox.sweep_seconds = 0.05
    slack.fake.dropped.add("chat.postMessage")
    await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1), text="here it is"))
    await slack.settle()
    assert slack.fake.called("chat.postMessage")  # tried; the connection was cut every time
    slack.fake.dropped.clear()
    await wait_until(lambda: bool(slack.fake.posts()))
    await asyncio.sleep(0.5)
    said = await slack.told()
    assert len(said) == 1
    assert "I have 1 file but no fax number" in said[0]


async def test_a_request_that_keeps_stopping_the_process_is_answered_instead(tmp_path: Path) -> None:
    """After MAX_ATTEMPTS starts that never finished, the person is told and the request ends, with no job."""
    async with slack_bridge(tmp_path) as slack:
        await slack.intake.inbox.close()  # nobody works on it: every start below "dies" before finishing
        await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))
        [item] = await slack.bridge.inbox.due(Channel.SLACK, slack.bridge.service.clock())
        for _ in range(MAX_ATTEMPTS):
            await slack.bridge.inbox.begin(item.id)
        slack.intake.inbox.start()
        await slack.settle()
        assert await slack.jobs() == []
        assert slack.fake.downloads == []
        [said] = await slack.told()
        assert said.startswith(f"faxbridge tried {MAX_ATTEMPTS} times and could not finish your request")


async def test_a_store_that_cannot_write_is_told_at_the_door(slack: SlackBridge) -> None:
    """When the request cannot be stored, the DM is answered with why, and the form stays open saying so."""
    slack.intake.inbox.inbox = InMemoryInbox()
    slack.intake.inbox.inbox.broken = True  # type: ignore[attr-defined]
    file = slack.pdf("F0FIRST", "first.pdf", 1)
    assert (await slack.event(slack.dm(file))).status_code == 200
    answer = (await slack.interact(slack.submission([file]))).json()
    await slack.settle()
    assert answer["response_action"] == "errors"
    assert "cannot store faxes right now" in answer["errors"]["number"]
    [said] = await slack.told()
    assert "cannot store faxes right now" in said
    assert slack.fake.downloads == []


async def test_a_network_error_from_files_info_is_told(slack: SlackBridge) -> None:
    """files.info cut off (an aiohttp error, after the SDK's retries) reaches the person as a message."""
    slack.pdf("F0SHARED", "shared.pdf", 1)
    slack.fake.dropped.add("files.info")
    stripped = {"id": "F0SHARED", "name": "shared.pdf", "file_access": "check_file_info"}
    await slack.event(slack.dm(stripped))
    await slack.settle()
    assert len(slack.fake.called("files.info")) >= 1
    [said] = await slack.told()
    assert "was not sent" in said
    assert "shared.pdf" in said
    assert "Slack could not be reached" in said
    assert await slack.jobs() == []


async def test_a_download_cut_off_is_told(slack: SlackBridge) -> None:
    """A download whose connection drops reaches the person as a message naming the file."""
    file = slack.pdf("F0CUT", "cut.pdf", 1)
    slack.fake.dropped.add("F0CUT")
    await slack.event(slack.dm(file))
    await slack.settle()
    [said] = await slack.told()
    assert "cut.pdf: downloading it from Slack failed" in said
    assert await slack.jobs() == []


async def test_anything_the_core_raises_is_told_and_logged_by_type(
    slack: SlackBridge, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception nobody foresaw (here from accept) becomes a message; the log names its type, not the file.

    Mutation: without the catch-all at the inbox boundary the request is dropped with no message.
    """

    async def broken(_: object) -> object:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    monkeypatch.setattr(slack.bridge.service, "accept", broken)
    secret = sample_pdf(1, text="confidential-words")
    await slack.event(slack.dm(slack.fake.add_file("F0X", "x.pdf", secret)))
    with caplog.at_level(logging.INFO):
        await slack.settle()
    [said] = await slack.told()
    assert said == (
        "Your fax to +1 202-555-0123 was not sent: x.pdf: faxbridge could not read it (EOFError); "
        "please send it as PDF."
    )
    assert "EOFError" in caplog.text
    assert "confidential" not in caplog.text
    await slack.settle()
    assert len(await slack.told()) == 1  # finished: not tried again
