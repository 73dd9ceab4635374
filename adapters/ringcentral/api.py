"""Authenticated, rate-limited requests to the RingCentral REST API, with errors translated."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import httpx

from adapters.ringcentral.auth import TokenHolder
from adapters.ringcentral.codes import error_from_response, retry_after, transport_error
from adapters.ringcentral.limiter import RateLimiter, Sleep
from bridge.clock import Monotonic
from bridge.metrics import Metrics

log = logging.getLogger(__name__)

# Connect quickly or give up; a 50 MB upload and RingCentral's answer may take a while.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)


class Sink(Protocol):
    """Where a downloaded body goes: any binary file's `write`."""

    def write(self, data: bytes, /) -> int: ...


def call_timeout(seconds: float) -> httpx.Timeout:
    """Timeouts for calls that may take `seconds` (FAXBRIDGE_PROVIDER_TIMEOUT_SECONDS); connecting takes at most 10 s."""
    return httpx.Timeout(connect=min(10.0, seconds), read=seconds, write=seconds, pool=min(10.0, seconds))


class RingCentralApi:
    """One HTTP client, one token holder and one limiter, shared by every RingCentral call of a process."""

    def __init__(
        self,
        server_url: str,
        client_id: str,
        client_secret: str,
        jwt: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        metrics: Metrics,
    ) -> None:
        self.metrics = metrics
        self.http = httpx.AsyncClient(
            base_url=server_url.rstrip("/"), transport=transport, timeout=timeout, follow_redirects=False
        )
        self.limiter = RateLimiter(clock=clock, sleep=sleep)
        self.auth = TokenHolder(
            self.http,
            client_id=client_id,
            client_secret=client_secret,
            jwt=jwt,
            limiter=self.limiter,
            clock=clock,
            on_token=self.metrics.token_refreshes.inc,
        )

    def __repr__(self) -> str:
        return f"<RingCentralApi {self.http.base_url}>"

    async def request(
        self,
        method: str,
        path: str,
        *,
        group: str,
        sends: bool = False,
        into: Sink | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one API call and return its 2xx answer, or raise ProviderTransient/ProviderPermanent.

        `group` is the call's throttling group; `sends` marks a call with effects (the fax POST),
        for which a broken connection or a 5xx leaves open whether the server acted. A 401 gets
        one retry with a new token; everything else is the caller's to retry. With `into`, a 2xx
        body is streamed into that file instead of being held in memory (a document download).
        """
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        operation = _operation(path)
        for attempt in (1, 2):
            # The token first: a login can take a while, and the slot should be counted when the
            # request really leaves, or the server sees it inside a window we think has passed.
            token = await self.auth.token()
            waiting = time.monotonic()
            await self.limiter.acquire(group)
            self.metrics.rate_limit_wait.inc(time.monotonic() - waiting)
            started = time.monotonic()
            try:
                signed = {**headers, "Authorization": f"Bearer {token}"}
                if into is None:
                    response = await self.http.request(method, path, headers=signed, **kwargs)
                else:
                    response = await self._stream(method, path, signed, into, **kwargs)
            except httpx.HTTPError as exc:
                self.metrics.provider_requests.labels(operation=operation, outcome="network_error").inc()
                raise transport_error(exc, sends=sends) from exc
            self.metrics.provider_latency.labels(operation=operation).observe(time.monotonic() - started)
            self.metrics.provider_requests.labels(
                operation=operation, outcome=str(response.status_code)
            ).inc()
            self.limiter.observe(group, response.headers)
            log.debug("RingCentral %s %s -> %s", method, path, response.status_code)
            if response.status_code == 401 and attempt == 1:
                self.auth.invalidate(token)
                continue
            if response.status_code == 429:
                self.metrics.rate_limited.inc()
                self.limiter.penalize(retry_after(response))
            if response.is_success:
                return response
            raise error_from_response(response, sends=sends, redact=self.auth.redact)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream(
        self, method: str, path: str, headers: dict[str, str], into: Sink, **kwargs: Any
    ) -> httpx.Response:
        async with self.http.stream(method, path, headers=headers, **kwargs) as response:
            if response.is_success:
                async for chunk in response.aiter_bytes():
                    into.write(chunk)
            else:
                await response.aread()  # an error body, read for its code
        return response

    async def close(self) -> None:
        """End the session and close the connections."""
        try:
            await self.auth.revoke()
        finally:
            await self.http.aclose()


def _operation(path: str) -> str:
    """A bounded label for a call, for metrics: never the ids in the path."""
    if path.endswith("/fax"):
        return "send"
    if "/content/" in path:
        return "download"
    if "/message-store" in path:
        return "status"
    if "/subscription" in path:
        return "subscription"
    return "other"
