"""The process's one RingCentral access token: JWT bearer grant, refresh before expiry, shared by all."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.ringcentral.codes import error_from_response, retry_after, transport_error
from adapters.ringcentral.limiter import RateLimiter
from bridge.clock import Monotonic
from bridge.errors import ProviderPermanent, ProviderTransient

log = logging.getLogger(__name__)

TOKEN_PATH = "/restapi/oauth/token"
REVOKE_PATH = "/restapi/oauth/revoke"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUTH_GROUP = "auth"
EARLY = 60.0  # refresh this many seconds before expiry (at most a tenth of the token's life)
COOL_DOWN = 60.0  # after a refused login, wait this long before asking again (Auth group: 5 a minute)


class TokenHolder:
    """Holds one access token and renews it, one request at a time.

    Concurrent callers wait on one lock, so a dozen jobs that find the token expired cause one
    token request, not twelve: the Auth group allows five a minute.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        jwt: str,
        limiter: RateLimiter,
        clock: Monotonic = time.monotonic,
        on_token: Callable[[], None] = lambda: None,
    ) -> None:
        self._http = http
        self._on_token = on_token
        self._basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._jwt = jwt
        self._secrets = tuple(s for s in (client_secret, jwt) if s)
        self._limiter = limiter
        self._clock = clock
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._renew_at = 0.0
        self._refresh: str | None = None
        self._refresh_until = 0.0
        self._refused: tuple[float, ProviderPermanent] | None = None
        self.scope: frozenset[str] = frozenset()  # the app permissions the last token was granted

    def __repr__(self) -> str:
        return f"<TokenHolder {'with' if self._access else 'without'} token>"

    def redact(self, text: str) -> str:
        """`text` with every credential and token replaced by ***."""
        for secret in (*self._secrets, self._access, self._refresh):
            if secret:
                text = text.replace(secret, "***")
        return text

    async def token(self) -> str:
        """A valid access token, fetched or refreshed first when needed."""
        async with self._lock:
            if self._access is None or self._clock() >= self._renew_at:
                await self._renew()
            assert self._access is not None
            return self._access

    def invalidate(self, token: str) -> None:
        """Forget `token` after the server refused it (a 401), unless it was replaced already."""
        if self._access == token:
            self._access = None

    async def _renew(self) -> None:
        self._access = None
        if self._refused is not None:
            until, error = self._refused
            if self._clock() < until:
                raise ProviderPermanent(error.reason, code=error.code)
            self._refused = None
        if self._refresh and self._clock() < self._refresh_until:
            refresh, self._refresh = self._refresh, None  # single-use, whatever the answer
            try:
                await self._grant({"grant_type": "refresh_token", "refresh_token": refresh})
                return
            except ProviderPermanent:
                log.info("RingCentral refused the refresh token; logging in with the JWT again")
        try:
            await self._grant({"grant_type": JWT_GRANT, "assertion": self._jwt})
        except ProviderPermanent as exc:
            # A refused login is the account's problem, not any one fax's.
            refused = ProviderPermanent(exc.reason, code=exc.code, account=True)
            self._refused = (self._clock() + COOL_DOWN, refused)
            raise refused from exc

    async def _grant(self, form: dict[str, str]) -> None:
        await self._limiter.acquire(AUTH_GROUP)
        started = self._clock()
        try:
            response = await self._http.post(
                TOKEN_PATH, data=form, headers={"Authorization": self._basic, "Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, sends=False) from exc
        self._limiter.observe(AUTH_GROUP, response.headers)
        if response.status_code == 429:
            self._limiter.penalize(retry_after(response))
        if not response.is_success:
            raise error_from_response(response, sends=False, redact=self.redact)
        self._store(_token_body(response), started)
        self._on_token()
        log.info("RingCentral access token obtained (%s)", form["grant_type"].rsplit(":", 1)[-1])

    def _store(self, body: dict[str, Any], started: float) -> None:
        life = float(body["expires_in"])
        self._access = str(body["access_token"])
        self.scope = frozenset(str(body.get("scope") or "").split())
        self._renew_at = started + life - min(EARLY, life / 10)
        refresh = body.get("refresh_token")
        self._refresh = str(refresh) if refresh else None
        self._refresh_until = started + float(body.get("refresh_token_expires_in") or 0) - EARLY

    async def revoke(self) -> None:
        """End the session (best effort, never retried, skipped when the Auth budget is spent)."""
        token, self._access, self._refresh = self._access, None, None
        if token is None or not self._limiter.try_acquire(AUTH_GROUP):
            return
        with contextlib.suppress(httpx.HTTPError):  # the docs: ignore revoke errors, never retry
            await self._http.post(
                REVOKE_PATH, data={"token": token}, headers={"Authorization": self._basic}, timeout=5.0
            )


def _token_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("access_token") and float(body["expires_in"]) > 0:
            return body
    except (ValueError, KeyError, TypeError):
        pass
    raise ProviderTransient("RingCentral sent an unreadable token answer")
