"""The RingCentral webhook: keep a subscription alive and answer its notifications.

It carries the outbound fax changes (the tracker re-reads the store) and, when the bridge receives
faxes, the inbound fax event filter (the receiver re-reads the list of received faxes). A
notification's body is never trusted: it only says "look now".
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from adapters.ringcentral.api import RingCentralApi
from adapters.ringcentral.limiter import Sleep
from bridge.errors import ProviderError, ProviderPermanent, ProviderTransient

log = logging.getLogger(__name__)

SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
# Outbound faxes: the events say "something changed", the tracker then re-reads the store.
EVENT_FILTER = "/restapi/v1.0/account/~/extension/~/message-store?type=Fax&direction=Outbound"
# Received faxes: the event carries the whole record, but only the message store's own list is believed.
INBOUND_FILTER = "/restapi/v1.0/account/~/extension/~/fax?direction=Inbound"
EXPIRES_IN = 7 * 24 * 3600
RETRY_DELAY = 60.0


class WebhookSubscriber:
    """Owns one WebHook subscription for fax events and serves `POST /ringcentral/webhook`.

    Start the HTTP server with `handler` routed first: RingCentral checks the address (the
    Validation-Token handshake) while `start()` creates the subscription.
    """

    def __init__(
        self,
        api: RingCentralApi,
        url: str,
        on_change: Callable[[], None],
        *,
        expires_in: int = EXPIRES_IN,
        sleep: Sleep = asyncio.sleep,
        shared_token: str | None = None,
        event_filters: tuple[str, ...] = (EVENT_FILTER,),
    ) -> None:
        self._api = api
        self._filters = list(event_filters)
        self._url = url
        self._on_change = on_change
        self._expires_in = expires_in
        self._sleep = sleep
        # The newest token and the one before: notices of the old subscription may still arrive
        # while a new one is being created, and a refused notice counts towards blacklisting.
        self._tokens: list[str] = []
        # Several bridges behind one address share one token, derived from their common secret:
        # whichever instance RingCentral's notice reaches accepts it, subscriber or not.
        self._shared_token = shared_token
        if shared_token:
            self._tokens = [shared_token]
        self._life = float(expires_in)
        self.subscription_id: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Drop subscriptions a previous run left on our address, subscribe, and keep renewing."""
        await self._drop_stale()
        await self._subscribe()
        self._task = asyncio.create_task(self._keep_alive(), name="ringcentral-webhook-renewal")

    async def close(self) -> None:
        """Stop renewing and cancel the subscription (best effort)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.subscription_id is not None:
            await self._delete(self.subscription_id)
            self.subscription_id = None

    async def renew(self) -> None:
        """Extend the subscription; make a new one if RingCentral dropped or blacklisted it."""
        if self.subscription_id is None:
            await self._subscribe()
            return
        try:
            response = await self._api.request(
                "POST", f"{SUBSCRIPTION_PATH}/{self.subscription_id}/renew", group="light"
            )
        except ProviderPermanent as exc:
            log.warning("RingCentral webhook subscription is gone (%s); subscribing again", exc.reason)
            self.subscription_id = None
            await self._subscribe()
            return
        self._remember(response.json())

    def route(self) -> web.RouteDef:
        """The `POST /ringcentral/webhook` route for the bridge's HTTP server."""
        return web.post("/ringcentral/webhook", self.handler)

    async def handler(self, request: web.Request) -> web.Response:
        """Answer RingCentral: echo a Validation-Token, else check Verification-Token and wake the tracker."""
        validation = request.headers.get("Validation-Token")
        if validation is not None:
            # RingCentral wants the header back within 3 s and a tiny body (SUB-525 otherwise).
            return web.Response(
                status=200, headers={"Validation-Token": validation}, content_type="application/json"
            )
        offered = request.headers.get("Verification-Token", "")
        if not any(hmac.compare_digest(offered.encode(), token.encode()) for token in self._tokens):
            return web.Response(status=403)
        try:
            self._on_change()
        except Exception:  # a failing answer gets the subscription blacklisted for good
            log.exception("the webhook's change callback failed")
        return web.Response(status=200)

    async def _subscribe(self) -> None:
        token = self._shared_token or secrets.token_urlsafe(24)
        body = {
            "eventFilters": self._filters,
            "deliveryMode": {
                "transportType": "WebHook",
                "address": self._url,
                "verificationToken": token,
            },
            "expiresIn": self._expires_in,
        }
        self._tokens = [token] if self._shared_token else [*self._tokens[-1:], token]
        response = await self._api.request("POST", SUBSCRIPTION_PATH, group="medium", json=body)
        self._remember(response.json())
        log.info("RingCentral webhook subscription %s created for %s", self.subscription_id, self._url)

    def _remember(self, info: dict[str, Any]) -> None:
        if info.get("status") == "Blacklisted":
            raise ProviderPermanent("RingCentral blacklisted the webhook subscription")
        self.subscription_id = str(info["id"])
        self._life = float(info.get("expiresIn") or self._expires_in)

    async def _keep_alive(self) -> None:
        delay = self._life * 0.8
        while True:
            await self._sleep(delay)
            try:
                await self.renew()
                delay = max(RETRY_DELAY, self._life * 0.8)
            except ProviderTransient as exc:
                log.warning("could not renew the RingCentral webhook (%s); trying again later", exc.reason)
                delay = exc.retry_after or RETRY_DELAY
            except Exception:  # the loop must outlive any one failure, or status pushes stop
                log.exception("could not renew the RingCentral webhook; trying again later")
                delay = RETRY_DELAY

    async def _drop_stale(self) -> None:
        try:
            response = await self._api.request("GET", SUBSCRIPTION_PATH, group="light")
        except ProviderError as exc:
            log.warning("could not list RingCentral subscriptions (%s)", exc.reason)
            return
        for info in response.json().get("records") or []:
            mode = info.get("deliveryMode") if isinstance(info, dict) else None
            if isinstance(mode, dict) and mode.get("address") == self._url and info.get("id"):
                await self._delete(str(info["id"]))

    async def _delete(self, subscription_id: str) -> None:
        try:
            await self._api.request("DELETE", f"{SUBSCRIPTION_PATH}/{subscription_id}", group="medium")
        except ProviderError as exc:
            log.warning("could not cancel RingCentral subscription %s (%s)", subscription_id, exc.reason)
