"""From a stored Slack request to the core: check who asks, fetch the links and files in order, ask the core, say why not.

Every request was stored in the inbox before Slack was answered. `handle` does its work and
returns what the person is to be told (None when the job's own status message says it all).
A fax's idempotency key is its request's Slack key, so doing a request again after a crash
never makes a second fax.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from adapters.links import LinkFetcher
from adapters.slack.files import FileProblem, SlackFiles, file_name
from adapters.slack.gate import SlackGate
from adapters.slack.messages import Poster
from adapters.slack.text import find_number, links_in, note_from
from bridge.errors import JobNotFound, NumberRefused, RequestRejected
from bridge.model import Channel, Cover, FaxRequest, Origin
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.spooling import Scratch
from bridge.wording import STATE_WORDS, display_number, plural

log = logging.getLogger("faxbridge.slack")
T = TypeVar("T")
EXAMPLE = "`+1 202 555 0123`"
STORE_DOWN = "faxbridge cannot store faxes right now, so nothing was sent. Please try again in a few minutes."
Where = dict[str, str]  # an Origin's reply: channel, thread_ts, user, team
Request = Mapping[str, Any]  # a stored request: kind, where, private, and what its kind needs


class Faxing:
    """The work of each kind of stored Slack request: a message with files, a submitted form, a Cancel."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: FaxService,
        poster: Poster,
        files: SlackFiles,
        links: LinkFetcher,
        gate: SlackGate,
        bot_user_id: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.service = service
        self.poster = poster
        self.files = files
        self.links = links
        self.gate = gate
        self.bot_user_id = bot_user_id

    async def refusal(self, request: Request) -> str | None:
        """Why the person may not make this request, if so. Raises SlackUnreachable when it cannot be told now.

        Asked before the work begins and apart from it: a lookup that must wait for Slack is not an
        attempt at the work.
        """
        if request.get("kind") not in ("message", "fax"):
            return None  # a Cancel is judged by whose fax it is
        where = request["where"]
        return await self.gate.refusal(str(where["user"]), str(where["channel"]))

    async def handle(self, request: Request, *, again: bool = False) -> str | None:
        """Do what the request asks (its sender may); return what to tell the person, if anything.

        `again`: an earlier attempt may have stored its job before it was stopped.
        """
        kind = request.get("kind")
        if kind == "message":
            return await self.from_message(request, again=again)
        if kind == "fax":
            return await self.from_form(request, again=again)
        if kind == "cancel":
            return await self.cancel(request)
        log.warning("a stored Slack request of unknown kind %r was left alone", kind)
        return None

    def unexpected(self, request: Request, exc: BaseException) -> str:
        """What to tell the person when something nobody foresaw stopped their request."""
        what = type(exc).__name__
        if request.get("kind") == "cancel":
            return f"faxbridge could not cancel the fax ({what}). Please try again."
        files = _files_of(request)
        if len(files) == 1:
            reason = f"{file_name(files[0])}: faxbridge could not read it ({what}); please send it as PDF"
        else:
            reason = f"faxbridge failed while checking the files ({what}); please send them as PDF"
        return self._not_sent(self._number_of(request), reason)

    def _number_of(self, request: Request) -> str:
        """The number a request asks for, as far as it can be told."""
        if request.get("kind") == "message":
            _, text = links_in(self._text_of(request.get("event") or {}))
            return find_number(text, self.service.destination).number
        return str(request.get("number") or "")

    def _text_of(self, event: Mapping[str, Any]) -> str:
        return str(event.get("text") or "").replace(f"<@{self.bot_user_id()}>", " ")

    # ---- a DM to the bot, or a message mentioning it: its links and files to the number in its text

    async def from_message(self, request: Request, *, again: bool = False) -> str | None:
        event: Mapping[str, Any] = request.get("event") or {}
        where: Where = dict(request["where"])
        # Links first, so that digits in a link's path are never taken for the number.
        links, text = links_in(self._text_of(event))
        found = find_number(text, self.service.destination)
        files = _files_of(request)
        if not (files or links) or not found.number or found.refusal:
            return self.what_is_missing(found.number, found.refusal, len(files) + len(links))
        profile = event.get("user_profile") or {}
        name = str(profile.get("real_name") or profile.get("display_name") or "")
        return await self.fax(
            str(request["key"]),
            found.number,
            files,
            note_from(found.rest),
            where,
            name,
            links=links,
            again=again,
        )

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

    # ---- the form (from /fax or Send as fax) was submitted

    async def from_form(self, request: Request, *, again: bool = False) -> str | None:
        where: Where = dict(request["where"])
        links, note = links_in(str(request.get("note") or ""))
        return await self.fax(
            str(request["key"]),
            str(request["number"]),
            _files_of(request),
            note,
            where,
            str(request.get("sender_name") or ""),
            links=links,
            again=again,
        )

    async def fax(
        self,
        key: str,
        number: str,
        files: Sequence[Mapping[str, Any]],
        note: str,
        where: Where,
        sender_name: str,
        *,
        links: Sequence[str] = (),
        again: bool = False,
    ) -> str | None:
        """Download the links' documents, then the files, in order; hand the request to the core; say why if it is refused.

        The status message itself comes from the core's outbox once the job is stored.
        """
        if again and await self.service.jobs_for_key(key):
            return None  # stored before a restart; its status message is already owed by the outbox
        scratch = Scratch.create(self.settings.incoming_dir)
        try:
            linked = await self.links.fetch_all(links, scratch)
            taken = sum(a.content.size for a in linked)
            shared = await self.files.fetch_all(files, scratch, left=self.files.max_bytes - taken)
            attachments = [*linked, *shared]
            request = FaxRequest(
                to=(number,),
                origin=Origin(
                    channel=Channel.SLACK, sender=where["user"], sender_name=sender_name, reply=where
                ),
                attachments=tuple(attachments),
                cover=Cover(sender=sender_name, note=note),
                strict=True,
                idempotency_key=key,
            )
            await _not_halfway(self.service.accept(request))
        except FileProblem as problem:
            return self._not_sent(number, problem.text)
        except RequestRejected as rejected:
            return self._not_sent(number, rejected.reason)
        finally:
            scratch.remove()  # the store keeps its own links to what it took
        return None

    def _not_sent(self, number: str, reason: str) -> str:
        try:
            shown = display_number(self.service.destination(number).e164)
        except NumberRefused:
            shown = number
        return (
            f"Your fax to {shown} was not sent: {reason}." if shown else f"Your fax was not sent: {reason}."
        )

    # ---- the Cancel button of a status message

    async def cancel(self, request: Request) -> str | None:
        job_id, where = str(request.get("job_id", "")), dict(request["where"])
        try:
            job = await self.service.job(job_id)
        except JobNotFound:
            return "That fax is no longer known to faxbridge."
        if job.origin.channel is not Channel.SLACK or job.origin.sender != where["user"]:
            return f"Only <@{job.origin.sender}>, who sent this fax, can cancel it."
        try:
            await self.service.cancel(job_id, by=f"{request.get('name') or where['user']} in Slack")
        except RequestRejected:
            state = (await self.service.job(job_id)).state
            return f"It is too late to cancel: the fax is already {STATE_WORDS[state]}."
        return None  # the status message is updated by the core's outbox, like any change of state


def _files_of(request: Request) -> list[Mapping[str, Any]]:
    """The Slack file objects a request carries (a message's, or the form's), ignoring anything else."""
    found = (
        (request.get("event") or {}).get("files")
        if request.get("kind") == "message"
        else request.get("files")
    )
    return [f for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []


async def _not_halfway(work: Awaitable[T]) -> T:
    """Let a store commit run to its end even when shutdown cancels the request meanwhile.

    The request stays in the inbox either way; on the next start it finds the job stored
    (or not) instead of a commit stopped in the middle.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.gather(task, return_exceptions=True)
        raise
