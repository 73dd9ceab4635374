"""An httpx transport that dials only addresses the router checked, with TLS still verified for the host's name."""

from __future__ import annotations

import ssl
import typing
from collections.abc import Iterable, Mapping

import httpcore
import httpx


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens a TCP connection to the pinned address of (host, port); refuses any other.

    httpcore then starts TLS on that connection with the host's name (SNI and certificate
    checks), so the pin changes where bytes go, never whom they are verified to come from.
    """

    def __init__(self, pins: Mapping[tuple[str, int], str]) -> None:
        self._pins = pins
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = self._pins.get((host.lower(), port))
        if address is None:
            raise httpcore.ConnectError(f"{host}:{port} was not checked before the connection")
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("downloads never use a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool given the pinned backend.

    httpx takes no network backend of its own, so the pool it builds is replaced by one like it
    that dials through PinnedBackend. No proxy from the environment: trust_env is off.
    """

    def __init__(self, pins: Mapping[tuple[str, int], str], ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=4,
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(pins),
        )
