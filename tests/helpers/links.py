"""A real HTTPS (or HTTP) server on a loopback port serving documents, redirects, pages and misbehaviour to links."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trustme
from aiohttp import web

from adapters.links import LinkFetcher
from bridge.spooling import Scratch, SpoolWriter
from bridge.testing import sample_pdf

HOST_NAME = "docs.example.test"  # a name no DNS answers: only the injected resolver knows it
SIGN_IN = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Password</form></body></html>"
DRIP_SECONDS = 0.05
# Makes a LinkFetcher for a test's server: `allowed` entries, any other LinkFetcher option.
Make = Callable[..., LinkFetcher]


@dataclass
class LinkServer:
    """The server's base URLs, what it serves, and what it saw."""

    port: int
    scheme: str
    client_tls: ssl.SSLContext
    documents: dict[str, bytes] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    endless_sent: int = 0

    def url(self, path: str, host: str = HOST_NAME) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def listed(self) -> str:
        """The allowlist entry that lets links reach this server by its name."""
        return f"{HOST_NAME}:{self.port}"

    async def resolve(self, host: str, port: int) -> list[str]:
        """The injected resolver: the server's name is on loopback; any other name is unknown."""
        if host == HOST_NAME:
            return ["127.0.0.1"]
        raise OSError(f"no such host {host}")


class RecordingScratch(Scratch):
    """A scratch folder that remembers the most bytes any of its files ever held."""

    peak = 0

    def writer(self, hint: str = "part") -> SpoolWriter:
        scratch = self

        class Recording(SpoolWriter):
            def write(self, data: bytes | bytearray | memoryview) -> None:
                super().write(data)
                scratch.peak = max(scratch.peak, self.size)

        return Recording(self.name(hint))


def _app(server: LinkServer) -> web.Application:
    async def document(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        server.hits[request.path] += 1
        server.headers_seen.append(dict(request.headers))
        if name not in server.documents:
            return web.Response(status=404, text="not here")
        return web.Response(body=server.documents[name], content_type="application/octet-stream")

    async def redirect(request: web.Request) -> web.StreamResponse:
        server.hits[request.path] += 1
        response = web.Response(status=int(request.query.get("status", "302")))
        response.headers["Location"] = request.query["to"]
        response.set_cookie("session", "secret-cookie")
        return response

    async def loop(request: web.Request) -> web.StreamResponse:
        server.hits[request.path] += 1
        raise web.HTTPFound("/loop")

    async def page(request: web.Request) -> web.StreamResponse:
        server.hits[request.path] += 1
        return web.Response(body=SIGN_IN, content_type="text/html")

    async def fragment(request: web.Request) -> web.StreamResponse:
        server.hits[request.path] += 1
        return web.Response(
            body=b"<div>Please sign in to see this document</div>\n", content_type="text/html"
        )

    async def compressed(request: web.Request) -> web.StreamResponse:
        # A small body that would inflate to far more than it weighs, whatever was asked for.
        server.hits[request.path] += 1
        server.headers_seen.append(dict(request.headers))
        body = gzip.compress(b"%PDF-1.4\n" + bytes(8 * 1048576))
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/pdf"}
        )

    async def status(request: web.Request) -> web.StreamResponse:
        server.hits[request.path] += 1
        return web.Response(status=int(request.match_info["code"]), text="no")

    async def endless(request: web.Request) -> web.StreamResponse:
        # A body with no end and no length: only the reader's cap stops it.
        server.hits[request.path] += 1
        response = web.StreamResponse()
        await response.prepare(request)
        block = b"%PDF-1.4\n" + b"0" * (256 * 1024 - 9)
        try:
            while True:
                await response.write(block)
                server.endless_sent += len(block)
        except (ConnectionError, RuntimeError):
            return response

    async def slow(request: web.Request) -> web.StreamResponse:
        # Bytes keep coming, slowly: no single read waits long, only the whole download does.
        server.hits[request.path] += 1
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(2000):
                await response.write(b"%")
                await asyncio.sleep(DRIP_SECONDS)
        except (ConnectionError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/doc/{name}", document)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/page", page)
    app.router.add_get("/fragment", fragment)
    app.router.add_get("/compressed", compressed)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/endless", endless)
    app.router.add_get("/slow", slow)
    return app


@asynccontextmanager
async def link_server(
    *, tls: bool = True, names: tuple[str, ...] = (HOST_NAME, "127.0.0.1")
) -> AsyncIterator[LinkServer]:
    """Run the server on 127.0.0.1 (HTTPS with a certificate for `names` from a test CA, or plain HTTP)."""
    ca = trustme.CA()
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    server_tls = None
    if tls:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(server_tls)
    server = LinkServer(port=0, scheme="https" if tls else "http", client_tls=client_tls)
    server.documents["a.pdf"] = sample_pdf(1, "first")
    server.documents["b.pdf"] = sample_pdf(2, "second")
    runner = web.AppRunner(_app(server), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()
