"""Status in Slack: one message per job, posted when it is accepted and updated in place as it moves."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.messages import CANNOT_POST, Blocks, Poster, error_of
from bridge.clock import Monotonic
from bridge.model import Job
from bridge.ports import StatusMessages
from bridge.service import CANCELLABLE
from bridge.states import JobState
from bridge.wording import STATE_WORDS, contents, display_number, left_out, outcome, plural

CANCEL_ACTION = "faxbridge_cancel"
# chat.update answers these when the message it should change is gone; a new one is posted instead.
MESSAGE_GONE = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "is_inactive", *CANNOT_POST}
)
ICONS = {
    JobState.RECEIVED: ":inbox_tray:",
    JobState.QUEUED: ":hourglass_flowing_sand:",
    JobState.SUBMITTING: ":fax:",
    JobState.SUBMITTED: ":fax:",
    JobState.SENT: ":outbox_tray:",
    JobState.DELIVERED: ":white_check_mark:",
    JobState.FAILED: ":x:",
    JobState.CANCELLED: ":no_entry_sign:",
    JobState.REJECTED: ":no_entry:",
}
MAX_LINES = 12


class SlackReplier:
    """The Replier for Slack jobs: every notice shows the job's current state in its one message.

    Calls for one channel are paced to at most one per `min_interval` seconds (Slack allows
    about one message per second per channel); a burst for one job collapses into one
    chat.update showing the newest state.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        messages: StatusMessages,
        *,
        min_interval: float = 1.0,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self.poster = Poster(client)
        self.messages = messages
        self.min_interval = min_interval
        self.clock = clock
        self._latest: dict[str, Job] = {}
        self._shown: dict[str, tuple[str, Blocks]] = {}  # what each job's message says now
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    async def acknowledge(self, job: Job) -> None:
        await self.show(job)

    async def update(self, job: Job) -> None:
        await self.show(job)

    async def report(self, job: Job) -> None:
        await self.show(job)

    async def show(self, job: Job) -> None:
        """Post the job's message, or update it in place if it was posted before."""
        self._latest[job.id] = job
        reply = job.origin.reply
        async with self._paced(reply.get("channel", "")):
            newest = self._latest.pop(job.id, None)
            if newest is None:
                return  # a later call for this job showed its newest state already
            where = await self.messages.message_of(newest.id)
            if where is None or not await self._update(newest, *where):
                await self._post(newest)
            if newest.state.is_final:
                self._shown.pop(newest.id, None)

    async def _post(self, job: Job) -> None:
        reply = job.origin.reply
        try:
            shown = status_message(job)
            channel, ts = await self.poster.post(reply, *shown)
        except SlackApiError as exc:
            if error_of(exc) not in CANNOT_POST or not reply.get("user"):
                raise
            shown = status_message(job, moved_from=reply["channel"])
            channel, ts = await self.poster.dm(reply["user"], *shown)
        await self.messages.keep_message(job.id, channel, ts)
        self._shown[job.id] = shown

    async def _update(self, job: Job, channel: str, ts: str) -> bool:
        """Change the message in place; False when it is gone and a new one must be posted."""
        moved_from = "" if channel == job.origin.reply.get("channel") else job.origin.reply.get("channel", "")
        shown = status_message(job, moved_from=moved_from)
        if self._shown.get(job.id) == shown:
            return True  # the message already says exactly this
        try:
            await self.poster.client.chat_update(channel=channel, ts=ts, text=shown[0], blocks=shown[1])
        except SlackApiError as exc:
            if error_of(exc) in MESSAGE_GONE:
                return False
            raise
        self._shown[job.id] = shown
        return True

    @contextlib.asynccontextmanager
    async def _paced(self, channel: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._last.get(channel, float("-inf")) + self.min_interval - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last[channel] = self.clock()


def escape(text: str) -> str:
    """Text safe inside Slack mrkdwn: the three characters Slack asks apps to escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def status_message(job: Job, *, moved_from: str = "") -> tuple[str, Blocks]:
    """The text (for notifications) and blocks of a job's status message."""
    number = display_number(job.to)
    said = outcome(job)
    text = f"Fax to {number}: {said}"
    blocks: list[dict[str, Any]] = [
        _section(f"{ICONS[job.state]} *Fax to {escape(number)}*\n{escape(said)}"),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Status*\n{STATE_WORDS[job.state]}"),
                _mrkdwn(f"*Pages*\n{job.pages}"),
                _mrkdwn(f"*Attempts*\n{job.attempts}"),
                _mrkdwn(f"*Job*\n`{job.id}`"),
            ],
        },
    ]
    faxed = _lines(contents(job))
    if faxed:
        blocks.append(_section("*Faxing*\n" + faxed))
    skipped = _lines(left_out(job))
    if skipped:
        blocks.append(_section("*Left out*\n" + skipped))
    notes = [f"Requested by <@{job.origin.sender}>"] if job.origin.sender else []
    if moved_from:
        notes.append(f"I cannot post in <#{moved_from}>, so this fax's status is kept here")
    if notes:
        blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(notes))]})
    if job.state in CANCELLABLE:
        blocks.append(_cancel_button(job))
    return text, blocks


def _lines(items: list[str]) -> str:
    shown = [f"• {escape(item)}" for item in items[:MAX_LINES]]
    if len(items) > MAX_LINES:
        shown.append(f"• and {plural(len(items) - MAX_LINES, 'more item')}")
    return "\n".join(shown)[:2900]


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text[:3000])}


def _cancel_button(job: Job) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "faxbridge_job",
        "elements": [
            {
                "type": "button",
                "action_id": CANCEL_ACTION,
                "text": {"type": "plain_text", "text": "Cancel fax"},
                "style": "danger",
                "value": job.id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Cancel this fax?"},
                    "text": _mrkdwn(f"The fax to {escape(display_number(job.to))} will not be sent."),
                    "confirm": {"type": "plain_text", "text": "Cancel fax"},
                    "deny": {"type": "plain_text", "text": "Keep it"},
                },
            }
        ],
    }
