"""Bolt listeners: each stores its request in the inbox before Slack gets its answer, then returns.

The app runs with `process_before_response`, so Slack is answered only once a listener has
returned: a request is either stored (and will be finished) or its sender is told it was not.
Slow work (downloads, Slack calls) happens after, in the inbox worker or a background task.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.links.fetcher import MAX_LINKS
from adapters.slack.faxing import EXAMPLE, STORE_DOWN, Faxing, Where
from adapters.slack.files import MAX_FILES, over_the_limits, too_many
from adapters.slack.gate import cannot_check
from adapters.slack.inbox import SlackInbox
from adapters.slack.messages import SlackUnreachable, error_of
from adapters.slack.modal import CALLBACK_ID, FILES, NOTE, NUMBER, Opened, fax_modal, read_submission
from adapters.slack.status import CANCEL_ACTION
from adapters.slack.text import find_number, links_in, plain
from bridge.errors import NumberRefused, StoreUnavailable

log = logging.getLogger("faxbridge.slack")
SHORTCUT_ID = "faxbridge_send_as_fax"
Spawn = Callable[[Awaitable[None]], None]


class Listeners:
    """What faxbridge does with each kind of Slack request."""

    def __init__(self, *, faxing: Faxing, inbox: SlackInbox, client: AsyncWebClient, spawn: Spawn) -> None:
        self.faxing = faxing
        self.gate = faxing.gate
        self.service = faxing.service
        self.poster = faxing.poster
        self.inbox = inbox
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

    async def _store(self, keys: list[str], request: dict[str, Any]) -> bool | None:
        """Admit a request to the inbox: True stored, False seen before, None the store is down."""
        try:
            return await self.inbox.admit(keys, request)
        except StoreUnavailable as exc:
            log.warning("a Slack request could not be stored: %s", exc.reason)
            return None

    async def _say(self, where: Where, text: str, *, private: bool = True) -> None:
        """Tell someone something in the background, where nothing else will (the request was not stored)."""
        await self.poster.tell(where, text, private=private)

    # ---- /fax [number] [note]: the modal, opened before anything slow

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        text = str(command.get("text") or "").strip()
        refused = self.gate.listed_refusal(user, channel)
        if refused:
            await ack(text=refused, response_type="ephemeral")
            return
        if text.lower() in ("help", "?"):
            await ack(text=self.usage(), response_type="ephemeral")
            return
        await ack()
        # Links go to the note, where the form reads them; digits in a link are never the number.
        links, rest = links_in(text)
        found = find_number(rest, self.service.destination)
        opened = Opened(channel=channel, user=user, team=command.get("team_id", ""))
        note = " ".join([*links, plain(found.rest)]).strip()
        view = fax_modal(opened=opened, number=found.number, note=note)
        self.spawn(self._open(command.get("trigger_id", ""), view, opened))

    def usage(self) -> str:
        return (
            f"`{self.faxing.settings.slack_command} [number] [note]` opens a form to fax files. You can "
            f"also share files with me in a direct message, with the fax number in the message (for "
            f"example {EXAMPLE}), or choose *Send as fax* from the menu of a message that has files."
        )

    async def _open(self, trigger_id: str, view: dict[str, Any], opened: Opened) -> None:
        """Open the form for someone who may fax; anyone else is told why not instead."""
        where = _where(opened)
        try:
            refusal = await self.gate.refusal(opened.user, opened.channel)
        except SlackUnreachable:
            refusal = cannot_check("Slack could not be reached")
        if refusal:
            await self.poster.tell(where, refusal, private=True)
            return
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("could not open the fax form: %s", error_of(exc))
            text = f"I could not open the fax form ({error_of(exc)}). Please try again."
            await self.poster.tell(where, text, private=True)

    # ---- the modal is submitted: check what can be checked at once, store it, then close it

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        entered = read_submission(view)
        user = body.get("user", {})
        links, _ = links_in(entered.note)
        errors = self._errors(entered.number, entered.files, picked=entered.picked, links=len(links))
        refused = self.gate.listed_refusal(user.get("id", ""), entered.opened.channel)
        if refused:
            errors[NUMBER] = refused
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        key = f"slack:view:{view.get('id', '')}:{view.get('hash', '')}"
        where = _where(entered.opened) | {"user": user.get("id", "") or entered.opened.user}
        request = {
            "kind": "fax",
            "key": key,
            "where": where,
            "private": not where.get("thread_ts"),
            "number": entered.number,
            "files": list(entered.files),
            "note": entered.note,
            "sender_name": str(user.get("name") or user.get("username") or ""),
        }
        if await self._store([key], request) is None:
            # The form stays open with the reason, so pressing Send again later is all it takes.
            await ack(response_action="errors", errors={NUMBER: STORE_DOWN})
            return
        await ack()

    def _errors(
        self, number: str, files: Sequence[Mapping[str, Any]], *, picked: bool, links: int = 0
    ) -> dict[str, str]:
        """Errors shown on the modal's fields: an unusable number, no file or link, too many, or plainly too big."""
        errors: dict[str, str] = {}
        try:
            self.service.destination(number)
        except NumberRefused as refused:
            errors[NUMBER] = _sentence(refused.reason) if number else "Enter the fax number to send to."
        where = FILES if picked else NUMBER
        problem = over_the_limits(files)
        if not files and not links:
            errors[where] = "Add at least one file to fax."
        elif problem is not None:
            errors[where] = _sentence(problem.text)
        if links > MAX_LINKS:
            errors[NOTE] = f"At most {MAX_LINKS} links can be fetched for one fax; this note has {links}."
        return errors

    # ---- "Send as fax" on a message: the modal with its files, asking for the number

    async def on_shortcut(self, ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        user = shortcut.get("user", {}).get("id", "")
        channel = shortcut.get("channel", {}).get("id", "")
        message = shortcut.get("message", {})
        files = list(message.get("files") or [])
        opened = Opened(
            channel=channel,
            user=user,
            team=shortcut.get("team", {}).get("id", ""),
            thread_ts=message.get("thread_ts") or message.get("ts") or shortcut.get("message_ts", ""),
            files=tuple(str(f.get("id", "")) for f in files[:MAX_FILES]),
        )
        if len(files) > MAX_FILES:
            self.spawn(self._say(_where(opened), f"I cannot fax this: {too_many(len(files))}."))
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
        await self._store_message(str(body.get("event_id", "")), event)

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if str(event.get("channel", "")).startswith("D") or event.get("bot_id"):
            return  # a DM is handled as a message
        await self._store_message(str(body.get("event_id", "")), event)

    async def _store_message(self, event_id: str, event: dict[str, Any]) -> None:
        channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
        where = {
            "channel": channel,
            "thread_ts": str(event.get("thread_ts") or ts),
            "user": str(event.get("user", "")),
            "team": str(event.get("team", "")),
        }
        # The message key also catches one message delivered as two events (a DM and a mention).
        key = f"slack:message:{channel}:{ts}"
        request = {"kind": "message", "key": key, "where": where, "private": False, "event": event}
        if await self._store([f"slack:event:{event_id}", key], request) is None:
            self.spawn(self._say(where, STORE_DOWN, private=False))

    # ---- the Cancel button of a status message

    async def on_cancel(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = body.get("user", {})
        where = {
            "channel": str(body.get("channel", {}).get("id", "")),
            "thread_ts": str(body.get("message", {}).get("thread_ts") or ""),
            "user": str(user.get("id", "")),
        }
        key = f"slack:action:{action.get('action_ts') or body.get('trigger_id', '')}"
        request = {
            "kind": "cancel",
            "where": where,
            "private": True,
            "job_id": str(action.get("value", "")),
            "name": str(user.get("name") or user.get("username") or user.get("id", "")),
        }
        if await self._store([key], request) is None:
            self.spawn(self._say(where, STORE_DOWN))
        await ack()

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
