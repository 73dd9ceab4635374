"""WebHook subscriptions: the Validation-Token handshake, and message-store notifications.

Because fax status is computed lazily, a small task wakes whenever some fax's status is
due to change, and tells every live subscription about new and changed faxes the way
RingCentral does: a `message-store` event listing counts and new ids only, and for a fax
received, on the inbound fax filter, an event carrying its whole record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from adapters.ringcentral.standin.errors import StandinError, invalid, not_found
from adapters.ringcentral.standin.fax import FaxMessage, Mailbox, Status, iso
from adapters.ringcentral.standin.inbound import InboundFax, fax_event, wants_inbound_faxes

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 30
MAX_EXPIRES_IN = 315_360_000
DEFAULT_EXPIRES_IN = 604_800
USER_AGENT = "RingCentral-Webhook/8.3"


@dataclass(kw_only=True)
class Subscription:
    id: str
    event_filters: list[str]
    address: str
    verification_token: str | None
    created: float
    expires_at: float

    def render(self, base_url: str, now: float) -> dict[str, Any]:
        """The `SubscriptionInfo` body."""
        return {
            "uri": f"{base_url}/restapi/v1.0/subscription/{self.id}",
            "id": self.id,
            "creationTime": iso(self.created),
            "status": "Active",
            "eventFilters": list(self.event_filters),
            "expirationTime": iso(self.expires_at),
            "expiresIn": max(1, round(self.expires_at - now)),
            "deliveryMode": {"transportType": "WebHook", "address": self.address, "encryption": False},
        }

    def wants_faxes(self, mailbox: Mailbox, direction: str = "Outbound") -> bool:
        """Whether a message-store filter of this subscription covers faxes of `direction`."""
        return any(_is_fax_store_filter(item, mailbox, direction) for item in self.event_filters)

    def wants_inbound_faxes(self, mailbox: Mailbox) -> bool:
        """Whether this subscription holds the inbound fax filter (events with the whole record)."""
        return any(wants_inbound_faxes(item, mailbox) for item in self.event_filters)


@dataclass(kw_only=True)
class Delivery:
    """One notification the stand-in tried to deliver, and what came of it."""

    subscription_id: str
    address: str
    payload: dict[str, Any]
    status: int | None
    error: str | None = None


@dataclass
class Notifier:
    """Watches fax statuses and posts notifications to subscribers."""

    mailbox: Mailbox
    messages: Callable[[], Iterable[FaxMessage]]
    subscriptions: Callable[[], list[Subscription]]
    clock: Callable[[], float]
    received: Callable[[], Iterable[InboundFax]] = tuple
    base_url: Callable[[], str] = lambda: "http://127.0.0.1"
    timeout: float = 3.0
    deliveries: list[Delivery] = field(default_factory=list)
    _seen: dict[int, Status] = field(default_factory=dict)
    _seen_received: set[int] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def kick(self) -> None:
        """Something changed (a new fax, a new subscription): look again now."""
        self._wake.set()

    def mark_all_seen(self) -> None:
        now = self.clock()
        for message in self.messages():
            self._seen[message.id] = message.status(now)
        self._seen_received.update(fax.id for fax in self.received())

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                due = await self.notify_once(session)
            except Exception:
                log.exception("stand-in notifier failed; trying again shortly")
                due = self.clock() + 1.0
            delay = None if due is None else max(0.0, due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    async def notify_once(self, session: aiohttp.ClientSession) -> float | None:
        """Send what changed since last time; return when the next change is due."""
        now = self.clock()
        new: list[int] = []
        updated: list[FaxMessage] = []
        due: float | None = None
        for message in self.messages():
            status = message.status(now)
            seen = self._seen.get(message.id)
            if seen is None:
                new.append(message.id)
            elif status != seen:
                updated.append(message)
            self._seen[message.id] = status
            upcoming = message.next_change(now)
            if upcoming is not None:
                due = upcoming if due is None else min(due, upcoming)
        if new or updated:
            targets = [item for item in self.subscriptions() if item.wants_faxes(self.mailbox)]
            changed = [*updated, *(m for m in self.messages() if m.id in new)]
            last = max(message.last_modified(now) for message in changed)
            await asyncio.gather(*(self._post(session, s, new, len(updated), last) for s in targets))
        await self._announce_received(session, now)
        return due

    async def _announce_received(self, session: aiohttp.ClientSession, now: float) -> None:
        """Faxes received since last time: the fax event to inbound fax filters, the change to store filters."""
        arrived = [fax for fax in self.received() if fax.id not in self._seen_received]
        if not arrived:
            return
        self._seen_received.update(fax.id for fax in arrived)
        subscriptions = self.subscriptions()
        posts = [
            self._send(session, sub, fax_event(fax, sub.id, self.base_url(), self.mailbox, now))
            for sub in subscriptions
            if sub.wants_inbound_faxes(self.mailbox)
            for fax in arrived
        ]
        new = [fax.id for fax in arrived]
        last = max(fax.created for fax in arrived)
        posts += [
            self._post(session, sub, new, 0, last)
            for sub in subscriptions
            if sub.wants_faxes(self.mailbox, "Inbound")
        ]
        await asyncio.gather(*posts)

    async def _post(
        self, session: aiohttp.ClientSession, sub: Subscription, new: list[int], updated: int, last: float
    ) -> None:
        change: dict[str, Any] = {"type": "Fax", "newCount": len(new), "updatedCount": updated}
        if new:
            change["newMessageIds"] = new
        payload = {
            "uuid": str(uuid.uuid4()),
            "event": f"/restapi/v1.0/account/~/extension/{self.mailbox.extension_id}/message-store",
            "timestamp": iso(self.clock()),
            "subscriptionId": sub.id,
            "ownerId": self.mailbox.extension_id,
            "body": {
                "extensionId": self.mailbox.extension_id,
                "lastUpdated": iso(last),
                "changes": [change],
                "ownerId": self.mailbox.extension_id,
            },
        }
        await self._send(session, sub, payload)

    async def _send(self, session: aiohttp.ClientSession, sub: Subscription, payload: dict[str, Any]) -> None:
        headers = {"User-Agent": USER_AGENT}
        if sub.verification_token:
            headers["Verification-Token"] = sub.verification_token
        delivery = Delivery(subscription_id=sub.id, address=sub.address, payload=payload, status=None)
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with session.post(sub.address, json=payload, headers=headers, timeout=timeout) as answer:
                delivery.status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
            log.warning("stand-in could not deliver a notification to %s: %s", sub.address, delivery.error)
        self.deliveries.append(delivery)


async def validate_webhook(session: aiohttp.ClientSession, address: str, timeout: float) -> None:
    """RingCentral's handshake: POST an empty body with `Validation-Token`, expect it echoed."""
    token = secrets.token_urlsafe(24)
    headers = {"Validation-Token": token, "Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        async with session.post(
            address, data=b"", headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as answer:
            body = await answer.content.read(1025)
            echoed = answer.headers.get("Validation-Token")
            ok = answer.status == 200 and echoed == token and len(body) <= 1024
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    if not ok:
        raise StandinError(400, "SUB-525", "WebHook server response is invalid")


def read_subscription_request(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The checked fields of a create or update: eventFilters, expiresIn, and the delivery mode."""
    filters = body.get("eventFilters")
    if not isinstance(filters, list) or not filters or not all(isinstance(f, str) and f for f in filters):
        raise invalid("eventFilters")
    bad = [item for item in filters if not item.startswith("/restapi/")]
    if bad:
        raise StandinError(400, "SUB-508", f"Invalid event filters: [{', '.join(bad)}]")
    expires_in = body.get("expiresIn", DEFAULT_EXPIRES_IN)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 1:
        raise invalid("expiresIn")
    checked: dict[str, Any] = {"eventFilters": filters, "expiresIn": min(expires_in, MAX_EXPIRES_IN)}
    if creating:
        mode = body.get("deliveryMode")
        if not isinstance(mode, dict) or mode.get("transportType") != "WebHook":
            raise invalid("deliveryMode.transportType")
        address = mode.get("address")
        if not isinstance(address, str) or urlsplit(address).scheme not in ("http", "https"):
            raise invalid("deliveryMode.address")
        token = mode.get("verificationToken")
        if token is not None and not isinstance(token, str):
            raise invalid("deliveryMode.verificationToken")
        checked.update(address=address, verificationToken=token)
    return checked


class SubscriptionStore:
    """Live subscriptions; expired ones disappear as RingCentral's do."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._items: dict[str, Subscription] = {}

    def live(self) -> list[Subscription]:
        now = self._clock()
        for key in [key for key, item in self._items.items() if item.expires_at <= now]:
            del self._items[key]
        return list(self._items.values())

    def create(self, checked: dict[str, Any]) -> Subscription:
        if len(self.live()) >= MAX_SUBSCRIPTIONS:
            raise StandinError(403, "SUB-505", "Subscriptions limit exceeded")
        now = self._clock()
        item = Subscription(
            id=str(uuid.uuid4()),
            event_filters=checked["eventFilters"],
            address=checked["address"],
            verification_token=checked["verificationToken"],
            created=now,
            expires_at=now + checked["expiresIn"],
        )
        self._items[item.id] = item
        return item

    def get(self, subscription_id: str) -> Subscription:
        self.live()
        item = self._items.get(subscription_id)
        if item is None:
            raise not_found("subscriptionId")
        return item

    def update(self, subscription_id: str, checked: dict[str, Any] | None) -> Subscription:
        item = self.get(subscription_id)
        if checked is not None:
            item.event_filters = checked["eventFilters"]
        expires_in = checked["expiresIn"] if checked else DEFAULT_EXPIRES_IN
        item.expires_at = self._clock() + expires_in
        return item

    def delete(self, subscription_id: str) -> None:
        self.get(subscription_id)
        del self._items[subscription_id]

    def clear(self) -> None:
        self._items.clear()


def _is_fax_store_filter(event_filter: str, mailbox: Mailbox, direction: str) -> bool:
    path, _, query = event_filter.partition("?")
    account = f"(~|{re.escape(mailbox.account_id)})"
    extension = f"(~|{re.escape(mailbox.extension_id)})"
    if not re.fullmatch(f"/restapi/v1\\.0/account/{account}/extension/{extension}/message-store", path):
        return False
    params = dict(item.partition("=")[::2] for item in query.split("&") if item)
    return params.get("type", "Fax") == "Fax" and params.get("direction", direction) == direction
