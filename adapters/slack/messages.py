"""Posting for someone: in the channel or thread they used, or in their DM when the bot cannot post there."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("faxbridge.slack")
Blocks = Sequence[dict[str, Any]]
# What chat.postMessage answers when the bot may not post where the person asked (a DM between
# two people, a private channel it was not invited to, an archived channel).
CANNOT_POST = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "not_allowed_token_type"}
)


class SlackUnreachable(Exception):
    """Slack could not be asked just now (network, 5xx, rate limit); the same question may work later."""


def error_of(exc: SlackApiError) -> str:
    """Slack's error code; for an answer that is not Slack's JSON (a proxy's 503 page), its HTTP status."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return f"http_{getattr(exc.response, 'status_code', 0)}"


class Poster:
    """Posts messages for one Slack origin (`channel`, `thread_ts`, `user` of an Origin's reply)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(
        self, where: Mapping[str, str], text: str, blocks: Blocks | None = None
    ) -> tuple[str, str]:
        """Post in the channel (and thread) of `where`; return (channel, ts). Raise SlackApiError."""
        answer = await self.client.chat_postMessage(
            channel=where["channel"], thread_ts=where.get("thread_ts") or None, text=text, blocks=blocks
        )
        return str(answer["channel"]), str(answer["ts"])

    async def dm(self, user: str, text: str, blocks: Blocks | None = None) -> tuple[str, str]:
        """Post in the bot's DM with `user`; return (channel, ts)."""
        opened = await self.client.conversations_open(users=user)
        channel = str(opened["channel"]["id"])
        answer = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return str(answer["channel"]), str(answer["ts"])

    async def tell(self, where: Mapping[str, str], text: str, *, private: bool = False) -> bool:
        """Say something once: in the thread (or only to the person), else in their DM.

        True when it was said, or when Slack refused it for good (nobody to tell); False when
        Slack could not be reached or was overloaded, so trying again later may work.
        """
        try:
            try:
                if private:
                    await self.client.chat_postEphemeral(
                        channel=where["channel"],
                        user=where["user"],
                        text=text,
                        thread_ts=where.get("thread_ts") or None,
                    )
                else:
                    await self.post(where, text)
            except SlackApiError as exc:
                if error_of(exc) not in CANNOT_POST or not where.get("user"):
                    raise
                await self.dm(where["user"], text)
        except SlackApiError as exc:
            log.warning("could not tell %s in Slack: %s", where.get("user") or "the sender", error_of(exc))
            return not worth_retrying(exc)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "could not reach Slack to tell %s: %s", where.get("user") or "the sender", type(exc).__name__
            )
            return False
        return True


def worth_retrying(exc: SlackApiError) -> bool:
    """An overloaded or unreachable Slack (429, 5xx) may take the message later; an API refusal will not."""
    status = int(getattr(exc.response, "status_code", 200) or 200)
    return status == 429 or status >= 500 or error_of(exc) in ("ratelimited", "fatal_error", "internal_error")


class MessageBook:
    """Which Slack message shows which job: a small SQLite table of its own, so updates survive restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS status_messages ("
            "job_id TEXT PRIMARY KEY, channel TEXT NOT NULL, ts TEXT NOT NULL)"
        )
        self._conn = conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def get(self, job_id: str) -> tuple[str, str] | None:
        row = await asyncio.to_thread(
            self._run, "SELECT channel, ts FROM status_messages WHERE job_id = ?", (job_id,)
        )
        return (str(row[0]), str(row[1])) if row else None

    async def put(self, job_id: str, channel: str, ts: str) -> None:
        await asyncio.to_thread(
            self._run,
            "INSERT OR REPLACE INTO status_messages (job_id, channel, ts) VALUES (?, ?, ?)",
            (job_id, channel, ts),
        )

    def _run(self, sql: str, args: tuple[str, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            if self._conn is None:
                self.open()
            assert self._conn is not None
            row: tuple[Any, ...] | None = self._conn.execute(sql, args).fetchone()
            return row
