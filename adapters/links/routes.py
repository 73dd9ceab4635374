"""Where a link may lead: https (or a listed http host), one resolved address, never a private one unless listed.

A host's name is resolved once per download and the connection is made to the address that was
checked (adapters.links.pinned), so a name that answers differently the second time cannot lead
the download somewhere else.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from adapters.links.refusal import LinkRefused
from bridge.hosts import DEFAULT_PORTS, HostList, is_address, is_private

# A name and a port to the addresses they resolve to; injectable, so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]
PRIVATE = "points into a private network"
# A host name as DNS knows it (internationalised names arrive IDNA-encoded).
# Labels separated by single dots, so a hostile name is matched in linear time.
_HOST_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\.?")


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves `host` to, best first."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Pin:
    """A checked destination: the host as the request names it, its port, and the one address to dial."""

    host: str
    port: int
    address: str


class Router:
    """Checks each URL a download meets (the link, then every redirect) and pins its host to one address."""

    def __init__(self, link: str, allowed: HostList, resolve: Resolver) -> None:
        self.link = link
        self.allowed = allowed
        self.resolve = resolve
        self.pins: dict[tuple[str, int], str] = {}

    async def check(self, url: httpx.URL) -> Pin:
        """The pin for `url`, or LinkRefused saying why the download may not go there."""
        scheme = url.scheme
        if scheme not in DEFAULT_PORTS:
            raise self.refused("is not an https link", "bad_link")
        if url.userinfo:
            # httpx would send it as a password; no credential ever travels with a download.
            raise self.refused("carries a user name or password", "bad_link")
        host = url.raw_host.decode("ascii").lower()
        if not (is_address(host) or (len(host) <= 254 and _HOST_NAME.fullmatch(host))):
            raise self.refused("names no usable host", "bad_link")
        port = url.port or DEFAULT_PORTS[scheme]
        listed = self.allowed.allows(host, port, scheme)
        if scheme == "http" and not listed:
            raise self.refused("uses plain http", "plain_http")
        known = self.pins.get((host, port))
        if known is None:
            known = await self._address(host, port, listed=listed)
            self.pins[(host, port)] = known
        return Pin(host=host, port=port, address=known)

    async def _address(self, host: str, port: int, *, listed: bool) -> str:
        if is_address(host):
            addresses = [host.strip("[]")]
        else:
            try:
                addresses = await self.resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise self.refused("names a host that cannot be found", "unresolved") from exc
        if not addresses:
            raise self.refused("names a host that cannot be found", "unresolved")
        # Every address must pass, not only the one dialled: a name is judged by all it stands for.
        if not listed and any(is_private(a) for a in addresses):
            raise self.refused(PRIVATE, "private_address")
        return addresses[0]

    def refused(self, reason: str, outcome: str) -> LinkRefused:
        return LinkRefused(self.link, reason, outcome=outcome)
