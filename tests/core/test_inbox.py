"""The RequestInbox contract, run against the SQLite inbox and the in-memory fake alike."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from adapters.sqlite import SqliteJobStore
from adapters.sqlite.inbox import SqliteRequestInbox
from bridge.model import Channel
from bridge.ports import RequestInbox
from tests.conftest import Clock
from tests.core import stores

inbox = stores.inbox  # every registered inbox in turn (tests/core/stores.py)


async def test_a_request_is_admitted_once_under_any_of_its_keys(inbox: RequestInbox, clock: Clock) -> None:
    """A second request sharing any one-time key (a Slack retry, one message as two events) stores nothing."""
    first = await inbox.admit(
        channel=Channel.SLACK, keys=["ev:1", "msg:C1:1"], payload='{"a":1}', now=clock()
    )
    assert first is not None
    assert await inbox.admit(channel=Channel.SLACK, keys=["ev:1"], payload='{"a":2}', now=clock()) is None
    assert (
        await inbox.admit(channel=Channel.SLACK, keys=["ev:2", "msg:C1:1"], payload="{}", now=clock()) is None
    )
    [item] = await inbox.due(Channel.SLACK, clock())
    assert (item.id, item.payload, item.attempts, item.answer) == (first, '{"a":1}', 0, None)
    assert item.received == clock()


async def test_due_lists_unfinished_requests_of_a_channel_oldest_first(
    inbox: RequestInbox, clock: Clock
) -> None:
    """Only the channel's unfinished, due requests are listed, in the order they arrived."""
    ids = [
        await inbox.admit(channel=Channel.SLACK, keys=[f"k{n}"], payload=f"{n}", now=clock())
        for n in range(3)
    ]
    await inbox.admit(channel=Channel.EMAIL, keys=["other"], payload="mail", now=clock())
    assert ids[0] is not None and ids[1] is not None
    await inbox.finish(ids[1], now=clock())
    await inbox.postpone(ids[0], clock() + timedelta(seconds=30))
    assert [i.payload for i in await inbox.due(Channel.SLACK, clock())] == ["2"]
    later = clock.advance(30)
    assert [i.payload for i in await inbox.due(Channel.SLACK, later)] == ["0", "2"]
    assert [i.payload for i in await inbox.due(Channel.SLACK, later, limit=1)] == ["0"]


async def test_attempts_are_counted_and_an_answer_is_kept(inbox: RequestInbox, clock: Clock) -> None:
    """Each begin counts an attempt; a decided answer is handed back until the request is finished."""
    item_id = await inbox.admit(channel=Channel.SLACK, keys=["k"], payload="p", now=clock())
    assert item_id is not None
    assert await inbox.begin(item_id) == 1
    assert await inbox.begin(item_id) == 2
    await inbox.decide(item_id, "Your fax was not sent: the file is empty.")
    [item] = await inbox.due(Channel.SLACK, clock())
    assert (item.attempts, item.answer) == (2, "Your fax was not sent: the file is empty.")


async def test_finished_requests_are_never_due_and_are_purged_later(
    inbox: RequestInbox, clock: Clock
) -> None:
    """A finished request is gone from `due` at once and its record is purged once older than the cut-off."""
    item_id = await inbox.admit(channel=Channel.SLACK, keys=["k"], payload="p", now=clock())
    assert item_id is not None
    await inbox.finish(item_id, now=clock())
    assert await inbox.due(Channel.SLACK, clock.advance(3600)) == []
    assert await inbox.purge_finished(clock() - timedelta(hours=2)) == 0
    assert await inbox.purge_finished(clock()) == 1
    # The keys outlive the record: a late Slack retry is still recognised.
    assert await inbox.admit(channel=Channel.SLACK, keys=["k"], payload="p", now=clock()) is None


async def test_sqlite_admission_is_committed_before_it_returns(tmp_path: Path, clock: Clock) -> None:
    """An admitted request is on disk at once (another connection sees it), and survives a reopen unfinished."""
    database = tmp_path / "faxbridge.db"
    store = SqliteJobStore(database, tmp_path / "spool")
    await store.open()
    inbox = SqliteRequestInbox(store)
    item_id = await inbox.admit(
        channel=Channel.SLACK, keys=["ev:1"], payload='{"kind":"message"}', now=clock()
    )
    await inbox.begin(item_id or 0)
    other = sqlite3.connect(database)
    try:
        assert other.execute("SELECT payload, attempts, finished FROM request_inbox").fetchall() == [
            ('{"kind":"message"}', 1, None)
        ]
        assert other.execute("SELECT key FROM seen_keys").fetchall() == [("ev:1",)]
    finally:
        other.close()
    await store.close()

    reopened = SqliteJobStore(database, tmp_path / "spool")
    await reopened.open()
    try:
        [item] = await SqliteRequestInbox(reopened).due(Channel.SLACK, clock())
        assert (item.id, item.attempts) == (item_id, 1)
    finally:
        await reopened.close()


async def test_sqlite_finish_forgets_the_payload(tmp_path: Path, clock: Clock) -> None:
    """What the person wrote is not kept once their request is finished."""
    store = SqliteJobStore(tmp_path / "faxbridge.db", tmp_path / "spool")
    await store.open()
    try:
        inbox = SqliteRequestInbox(store)
        item_id = await inbox.admit(
            channel=Channel.SLACK, keys=["k"], payload="fax +1 202 555 0123", now=clock()
        )
        await inbox.decide(item_id or 0, "answer")
        await inbox.finish(item_id or 0, now=clock())
        row = store.conn.execute("SELECT payload, answer, finished FROM request_inbox").fetchone()
        assert (row["payload"], row["answer"]) == (None, None)
        assert row["finished"] is not None
    finally:
        await store.close()
