"""Received faxes into Slack: the PDF uploaded with Slack's current flow into a channel or a fax's thread.

The flow is files.getUploadURLExternal, a POST of the bytes to the URL it gives, then
files.completeUploadExternal into the channel (and thread) with one line saying from which
number to which, pages and when. The file id is noted in the store before the upload is
completed, so after a crash the next try asks Slack (files.info) whether that file is already
shared there, and does not post it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.messages import error_of, worth_retrying
from bridge.errors import DeliveryRefused, DeliveryTransient
from bridge.model import Channel
from bridge.ports import Parcel, StatusMessages
from bridge.received import DestinationKind
from bridge.wording import fetch_notice, received_line

log = logging.getLogger("faxbridge.slack.received")
UPLOAD_TIMEOUT = 120.0


class SlackForwarder:
    """The Forwarder for `slack:CHANNEL_ID` and for the thread of a fax asked for in Slack."""

    def __init__(
        self, client: AsyncWebClient, messages: StatusMessages, *, upload_hosts: Collection[str]
    ) -> None:
        self.client = client
        self._messages = messages
        self._upload_hosts = frozenset(host.lower() for host in upload_hosts)

    async def forward(self, parcel: Parcel) -> None:
        channel, thread_ts = await self._where(parcel)
        try:
            if not parcel.attach:
                await self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=f"{received_line(parcel.fax)}\n{fetch_notice(parcel.fax)}",
                )
                return
            if parcel.delivery.progress and await self._already_shared(parcel.delivery.progress, channel):
                log.info(
                    "received fax %s: already in Slack (file %s)", parcel.fax.id, parcel.delivery.progress
                )
                return
            await self._upload(parcel, channel, thread_ts)
        except SlackApiError as exc:
            raise _translated(exc) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryTransient(f"Slack could not be reached ({type(exc).__name__})") from exc

    async def _where(self, parcel: Parcel) -> tuple[str, str | None]:
        destination = parcel.delivery.destination
        if destination.kind is DestinationKind.SLACK:
            return destination.target, None
        job = parcel.answers
        if job is None or job.origin.channel is not Channel.SLACK:
            raise DeliveryRefused("no Slack fax to answer in its thread")
        reply = job.origin.reply
        shown = await self._messages.message_of(job.id)
        if shown is not None:
            channel, ts = shown
            # The fax's thread: the one it was asked for in, else the thread under its status message.
            thread = (
                reply.get("thread_ts") if channel == reply.get("channel") and reply.get("thread_ts") else ts
            )
            return channel, thread
        if not reply.get("channel"):
            raise DeliveryRefused("the Slack fax it answers has no channel to reply in")
        return reply["channel"], reply.get("thread_ts") or None

    async def _upload(self, parcel: Parcel, channel: str, thread_ts: str | None) -> None:
        fax = parcel.fax
        name = f"fax-{fax.from_number.lstrip('+')}-{fax.received:%Y%m%d-%H%M}"
        with parcel.open() as document:
            files = [(f"{name}.pdf", document.read())]
        picture = await parcel.preview() if parcel.preview is not None else None
        if picture:
            files.append((f"{name}-page1.png", picture))  # shown inline beside the PDF
        # Every file's upload address first, then its id noted, then the bytes: a crash after
        # the upload is completed must not post it twice.
        asked = [await self._ask(filename, data) for filename, data in files]
        await parcel.note_progress(asked[0][0])
        for (_, url), (_, data) in zip(asked, files, strict=True):
            await self._post_bytes(url, data)
        await self.client.files_completeUploadExternal(
            files=[
                {"id": file_id, "title": filename}
                for (file_id, _), (filename, _) in zip(asked, files, strict=True)
            ],
            channel_id=channel,
            thread_ts=thread_ts,
            initial_comment=received_line(fax),
        )
        log.info(
            "received fax %s: uploaded to Slack as %s", fax.id, ", ".join(file_id for file_id, _ in asked)
        )

    async def _ask(self, filename: str, data: bytes) -> tuple[str, str]:
        """A file id and the address to post its bytes to; refused when that address is not Slack's."""
        asked = await self.client.files_getUploadURLExternal(filename=filename, length=len(data))
        file_id, url = str(asked["file_id"]), str(asked["upload_url"])
        parts = urlsplit(url)
        host = (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")
        if host not in self._upload_hosts:
            # The fax's content goes to Slack's file hosts only (FAXBRIDGE_SLACK_FILE_HOSTS).
            raise DeliveryRefused(f"Slack offered an upload address outside its file hosts ({host})")
        return file_id, url

    async def _post_bytes(self, url: str, data: bytes) -> None:
        timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, data=data) as answer:
            if answer.status >= 500 or answer.status == 429:
                raise DeliveryTransient(f"Slack's file host answered {answer.status}")
            if answer.status != 200:
                raise DeliveryTransient(f"Slack's file host refused the upload ({answer.status})")

    async def _already_shared(self, file_id: str, channel: str) -> bool:
        """Whether an earlier try's file is already shared in the channel (its upload was completed)."""
        try:
            info = await self.client.files_info(file=file_id)
        except SlackApiError as exc:
            if error_of(exc) == "file_not_found":
                return False
            raise
        shares: dict[str, Any] = (info.get("file") or {}).get("shares") or {}
        return any(channel in (shares.get(kind) or {}) for kind in ("public", "private"))


def _translated(exc: SlackApiError) -> Exception:
    """A Slack refusal as the core understands it: try again later, or give up with Slack's reason."""
    error = error_of(exc)
    if worth_retrying(exc):
        headers = getattr(exc.response, "headers", {}) or {}
        try:
            retry_after = float(headers.get("Retry-After", headers.get("retry-after", "")))
        except (TypeError, ValueError):
            retry_after = None
        return DeliveryTransient(f"Slack is busy or unavailable ({error})", retry_after=retry_after)
    return DeliveryRefused(f"Slack refused it: {error}")
