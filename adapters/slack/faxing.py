"""From a Slack request to the core: remember it once, fetch its files in order, ask the core, say why not.

A request becomes a FaxRequest whose idempotency key is the key remembered for it, so a
Slack retry (or a crash between the two) never makes a second fax.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from adapters.slack.files import FileProblem, SlackFiles
from adapters.slack.messages import Poster
from adapters.slack.text import find_number, note_from
from bridge.errors import NumberRefused, RequestRejected, StoreUnavailable
from bridge.model import Channel, Cover, FaxRequest, Origin
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.spooling import Scratch
from bridge.wording import display_number, plural

log = logging.getLogger("faxbridge.slack")
EXAMPLE = "`+1 202 555 0123`"
REFUSAL = (
    "Sorry, faxing from Slack is open only to some people and channels, and this is not one of them. "
    "Ask whoever runs faxbridge if you need it."
)
STORE_DOWN = "faxbridge cannot store faxes right now, so nothing was sent. Please try again in a few minutes."
Where = dict[str, str]  # an Origin's reply: channel, thread_ts, user, team


class Faxing:
    """The steps every way in from Slack shares, and the DM / mention way in itself."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: FaxService,
        poster: Poster,
        files: SlackFiles,
        bot_user_id: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.service = service
        self.poster = poster
        self.files = files
        self.bot_user_id = bot_user_id

    def allowed(self, user: str, channel: str) -> bool:
        """FAXBRIDGE_SLACK_ALLOWED_USERS / _CHANNELS; an empty list lets everyone in."""
        users, channels = self.settings.slack_allowed_users, self.settings.slack_allowed_channels
        return (not users or user in users) and (not channels or channel in channels)

    async def once(self, keys: list[str], where: Where, work: Callable[[], Awaitable[None]]) -> None:
        if await self.first(keys, where):
            await work()

    async def first(self, keys: list[str], where: Where) -> bool:
        """Remember each key durably; True only when none was seen before (a Slack retry, a double click)."""
        try:
            fresh = [await self.service.store.remember(key, now=self.service.clock()) for key in keys]
        except StoreUnavailable:
            await self.poster.tell(where, STORE_DOWN, private=not where.get("thread_ts"))
            return False
        if not all(fresh):
            log.info("Slack request %s seen before; nothing new is done", keys[0])
        return all(fresh)

    async def fax(
        self,
        key: str,
        number: str,
        files: Sequence[Mapping[str, Any]],
        note: str,
        where: Where,
        sender_name: str,
    ) -> None:
        """Download the files in order and hand the request to the core; say why if it is refused.

        The status message itself comes from the core's outbox once the job is stored.
        """
        private = not where.get("thread_ts")
        scratch = Scratch.create(self.settings.incoming_dir)
        try:
            attachments = await self.files.fetch_all(files, scratch)
            await self.service.accept(
                FaxRequest(
                    to=(number,),
                    origin=Origin(
                        channel=Channel.SLACK, sender=where["user"], sender_name=sender_name, reply=where
                    ),
                    attachments=tuple(attachments),
                    cover=Cover(sender=sender_name, note=note),
                    strict=True,
                    idempotency_key=key,
                )
            )
        except FileProblem as problem:
            reason = f"{problem.name}: {problem.reason}"
            await self.poster.tell(where, self._not_sent(number, reason), private=private)
        except RequestRejected as rejected:
            await self.poster.tell(where, self._not_sent(number, rejected.reason), private=private)
        except StoreUnavailable:
            await self.poster.tell(where, STORE_DOWN, private=private)
        finally:
            scratch.remove()  # the store keeps its own links to what it took

    def _not_sent(self, number: str, reason: str) -> str:
        try:
            shown = display_number(self.service.destination(number).e164)
        except NumberRefused:
            shown = number
        return f"Your fax to {shown} was not sent: {reason}."

    async def from_message(self, event_id: str, event: Mapping[str, Any]) -> None:
        """A DM to the bot, or a message mentioning it: its files to the number in its text."""
        channel, ts, user = (str(event.get(k, "")) for k in ("channel", "ts", "user"))
        where = {
            "channel": channel,
            "thread_ts": str(event.get("thread_ts") or ts),
            "user": user,
            "team": str(event.get("team", "")),
        }
        # The message key also catches one message delivered as two events (a DM and a mention).
        key = f"slack:message:{channel}:{ts}"
        if not await self.first([f"slack:event:{event_id}", key], where):
            return
        if not self.allowed(user, channel):
            await self.poster.tell(where, REFUSAL)
            return
        text = str(event.get("text") or "").replace(f"<@{self.bot_user_id()}>", " ")
        found = find_number(text, self.service.destination)
        files = list(event.get("files") or [])
        if not files or not found.number or found.refusal:
            await self.poster.tell(where, self.what_is_missing(found.number, found.refusal, len(files)))
            return
        profile = event.get("user_profile") or {}
        name = str(profile.get("real_name") or profile.get("display_name") or "")
        await self.fax(key, found.number, files, note_from(found.rest), where, name)

    def what_is_missing(self, number: str, refusal: str, files: int) -> str:
        if refusal:
            return f"I cannot fax to {number}: {refusal}."
        if files and not number:
            return (
                f"I have {plural(files, 'file')} but no fax number. Send them again with the number "
                f"in the same message, for example {EXAMPLE}."
            )
        if number:
            return (
                f"I found the number {number} but no files. Share the files to fax in the same message "
                "as the number."
            )
        return (
            "To send a fax, share the files here with the fax number in the same message, "
            f"for example {EXAMPLE}. Or use the `{self.settings.slack_command}` command."
        )
