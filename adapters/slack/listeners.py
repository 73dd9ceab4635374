"""Bolt listeners: each acknowledges at once, then hands the slow part to a background task.

The listeners translate Slack's payloads; `Faxing` and the core do the rest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.faxing import EXAMPLE, REFUSAL, Faxing, Where
from adapters.slack.files import MAX_FILE_BYTES, file_name, too_large
from adapters.slack.messages import error_of
from adapters.slack.modal import CALLBACK_ID, FILES, MAX_FILES, NUMBER, Opened, fax_modal, read_submission
from adapters.slack.status import CANCEL_ACTION
from adapters.slack.text import find_number, plain
from bridge.errors import JobNotFound, NumberRefused, RequestRejected
from bridge.model import Channel
from bridge.wording import STATE_WORDS

log = logging.getLogger("faxbridge.slack")
SHORTCUT_ID = "faxbridge_send_as_fax"
Spawn = Callable[[Awaitable[None]], None]


class Listeners:
    """What faxbridge does with each kind of Slack request."""

    def __init__(self, *, faxing: Faxing, client: AsyncWebClient, spawn: Spawn) -> None:
        self.faxing = faxing
        self.service = faxing.service
        self.poster = faxing.poster
        self.client = client
        self.spawn = spawn

    def register(self, app: AsyncApp) -> None:
        app.command(self.faxing.settings.slack_command)(self.on_command)
        app.view(CALLBACK_ID)(self.on_submit)
        app.message_shortcut(SHORTCUT_ID)(self.on_shortcut)
        app.action(CANCEL_ACTION)(self.on_cancel)
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_mention)
        # Whatever else Slack sends (file_shared, a stray button) is answered 200 so it is not retried.
        app.event(re.compile(".*"))(self.ignore)
        app.action(re.compile(".*"))(self.ignore_ack)
        app.shortcut(re.compile(".*"))(self.ignore_ack)
        app.view(re.compile(".*"))(self.ignore_ack)
        app.command(re.compile(".*"))(self.on_other_command)

    # ---- /fax [number] [note]: the modal, opened before anything slow

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        text = str(command.get("text") or "").strip()
        if not self.faxing.allowed(user, channel):
            await ack(text=REFUSAL, response_type="ephemeral")
            return
        if text.lower() in ("help", "?"):
            await ack(text=self.usage(), response_type="ephemeral")
            return
        await ack()
        found = find_number(text, self.service.destination)
        opened = Opened(channel=channel, user=user, team=command.get("team_id", ""))
        view = fax_modal(opened=opened, number=found.number, note=plain(found.rest))
        self.spawn(self._open(command.get("trigger_id", ""), view, opened))

    def usage(self) -> str:
        return (
            f"`{self.faxing.settings.slack_command} [number] [note]` opens a form to fax files. You can "
            f"also share files with me in a direct message, with the fax number in the message (for "
            f"example {EXAMPLE}), or choose *Send as fax* from the menu of a message that has files."
        )

    async def _open(self, trigger_id: str, view: dict[str, Any], opened: Opened) -> None:
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("could not open the fax form: %s", error_of(exc))
            text = f"I could not open the fax form ({error_of(exc)}). Please try again."
            await self.poster.tell(_where(opened), text, private=True)

    # ---- the modal is submitted: check what can be checked at once, then close it

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        entered = read_submission(view)
        user = body.get("user", {})
        errors = self._errors(entered.number, entered.files, picked=entered.picked)
        if not self.faxing.allowed(user.get("id", ""), entered.opened.channel):
            errors[NUMBER] = REFUSAL
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        key = f"slack:view:{view.get('id', '')}:{view.get('hash', '')}"
        where = _where(entered.opened) | {"user": user.get("id", "") or entered.opened.user}
        name = str(user.get("name") or user.get("username") or "")

        async def work() -> None:
            await self.faxing.fax(key, entered.number, entered.files, entered.note, where, name)

        self.spawn(self.faxing.once([key], where, work))

    def _errors(self, number: str, files: Sequence[Mapping[str, Any]], *, picked: bool) -> dict[str, str]:
        """Errors shown on the modal's fields: an unusable number, no file, a file that is plainly too big."""
        errors: dict[str, str] = {}
        try:
            self.service.destination(number)
        except NumberRefused as refused:
            errors[NUMBER] = _sentence(refused.reason) if number else "Enter the fax number to send to."
        if not files:
            errors[FILES if picked else NUMBER] = "Add at least one file to fax."
        for file in files:
            if int(file.get("size") or 0) > MAX_FILE_BYTES:
                errors[FILES] = _sentence(f"{file_name(file)}: {too_large(int(file['size']))}")
        return errors

    # ---- "Send as fax" on a message: the modal with its files, asking for the number

    async def on_shortcut(self, ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        user = shortcut.get("user", {}).get("id", "")
        channel = shortcut.get("channel", {}).get("id", "")
        message = shortcut.get("message", {})
        files = list(message.get("files") or [])[:MAX_FILES]
        opened = Opened(
            channel=channel,
            user=user,
            team=shortcut.get("team", {}).get("id", ""),
            thread_ts=message.get("thread_ts") or message.get("ts") or shortcut.get("message_ts", ""),
            files=tuple(str(f.get("id", "")) for f in files),
        )
        if not self.faxing.allowed(user, channel):
            self.spawn(self.poster.tell(_where(opened), REFUSAL, private=True))
            return
        found = find_number(str(message.get("text") or ""), self.service.destination)
        view = fax_modal(opened=opened, number="" if found.refusal else found.number, files=files)
        self.spawn(self._open(shortcut.get("trigger_id", ""), view, opened))

    # ---- files shared with the bot: a DM, or a message that mentions it

    async def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        if event.get("subtype") not in (None, "file_share"):
            return  # edits, deletions, joins: nothing to fax
        self.spawn(self.faxing.from_message(str(body.get("event_id", "")), event))

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if str(event.get("channel", "")).startswith("D") or event.get("bot_id"):
            return  # a DM is handled as a message
        self.spawn(self.faxing.from_message(str(body.get("event_id", "")), event))

    # ---- the Cancel button of a status message

    async def on_cancel(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body.get("user", {})
        where = {
            "channel": str(body.get("channel", {}).get("id", "")),
            "thread_ts": str(body.get("message", {}).get("thread_ts") or ""),
            "user": str(user.get("id", "")),
        }
        key = f"slack:action:{action.get('action_ts') or body.get('trigger_id', '')}"
        name = str(user.get("name") or user.get("username") or user.get("id", ""))

        async def work() -> None:
            await self._cancel(str(action.get("value", "")), where, name)

        self.spawn(self.faxing.once([key], where, work))

    async def _cancel(self, job_id: str, where: Where, name: str) -> None:
        try:
            job = await self.service.job(job_id)
        except JobNotFound:
            await self.poster.tell(where, "That fax is no longer known to faxbridge.", private=True)
            return
        if job.origin.channel is not Channel.SLACK or job.origin.sender != where["user"]:
            text = f"Only <@{job.origin.sender}>, who sent this fax, can cancel it."
            await self.poster.tell(where, text, private=True)
            return
        try:
            await self.service.cancel(job_id, by=f"{name} in Slack")
        except RequestRejected:
            state = (await self.service.job(job_id)).state
            text = f"It is too late to cancel: the fax is already {STATE_WORDS[state]}."
            await self.poster.tell(where, text, private=True)
        # The message itself is updated by the core's outbox, like any other change of state.

    # ---- the rest

    async def ignore(self) -> None:
        """Events faxbridge does not act on; acknowledged so Slack does not retry them."""

    async def ignore_ack(self, ack: AsyncAck) -> None:
        await ack()

    async def on_other_command(self, ack: AsyncAck) -> None:
        await ack(text=self.usage(), response_type="ephemeral")


def _where(opened: Opened) -> Where:
    return {
        "channel": opened.channel,
        "thread_ts": opened.thread_ts,
        "user": opened.user,
        "team": opened.team,
    }


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
