"""Posting for someone: in the channel or thread they used, or in their DM when the bot cannot post there."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.ports import StatusMessages

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


OLD_BOOK = "slack-messages.db"  # where versions before the store kept status messages, in the data directory


async def adopt_old_book(path: Path, messages: StatusMessages) -> int:
    """Bring the rows of the separate database older versions kept into the store, then remove it.

    A row the store already has is left as the store has it. Returns how many rows were read.
    """
    try:
        rows = await asyncio.to_thread(_read_old_book, path)
    except sqlite3.Error as exc:
        # Unreadable: the worst outcome of losing it is a new status message instead of an update.
        log.warning("Slack: the old status message book %s cannot be read (%s); it is left alone", path, exc)
        return 0
    if rows is None:
        return 0
    for job_id, channel, ts in rows:
        if await messages.message_of(job_id) is None:
            await messages.keep_message(job_id, channel, ts)
    await asyncio.to_thread(_remove_old_book, path)
    log.info("Slack: moved %d status messages from %s into the store", len(rows), path.name)
    return len(rows)


def _read_old_book(path: Path) -> list[tuple[str, str, str]] | None:
    """The old book's rows; None when there is no old book."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT name FROM sqlite_master WHERE name = 'status_messages'").fetchone()
        if found is None:
            return []
        rows = conn.execute("SELECT job_id, channel, ts FROM status_messages").fetchall()
    finally:
        conn.close()
    return [(str(job_id), str(channel), str(ts)) for job_id, channel, ts in rows]


def _remove_old_book(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
