"""Downloading documents by link: every hop checked, the bytes streamed to the spool within the fax limits and a time limit.

What is faxed is what was downloaded and checked here, once: the spooled file is the document,
and nothing fetches the link again (not a retry, not a restart).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from collections.abc import Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from adapters.links.pinned import PinnedTransport
from adapters.links.refusal import LinkRefused
from adapters.links.routes import Resolver, Router, system_resolver
from bridge.errors import DocumentRefused
from bridge.hosts import HostList
from bridge.judging import judge
from bridge.metrics import Metrics
from bridge.model import Attachment, Verdict
from bridge.pipeline import MAX_TOTAL_BYTES
from bridge.settings import Settings
from bridge.spooling import Scratch, SpoolWriter
from bridge.workers import Workers

log = logging.getLogger("faxbridge.links")
MAX_REDIRECTS = 5
MAX_LINKS = 10  # as many documents as a Slack message may carry
MAX_DOWNLOADING = 4  # downloads at once, whatever the number of requests
CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Identity only: a compressed body would be inflated in memory, a chunk at a time but without bound.
_HEADERS = {"User-Agent": "faxbridge", "Accept": "*/*", "Accept-Encoding": "identity"}
_WEB_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXTUAL = frozenset({"text/html", "text/plain", "application/xml"})


class LinkFetcher:
    """Fetches the documents links point to, in order, as Attachments for the core."""

    def __init__(
        self,
        *,
        allowed: HostList,
        workers: Workers,
        metrics: Metrics,
        timeout: float = 120.0,
        max_bytes: int = MAX_TOTAL_BYTES,
        resolve: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_downloading: int = MAX_DOWNLOADING,
    ) -> None:
        self.allowed = allowed
        self.workers = workers
        self.metrics = metrics
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.resolve = resolve
        self.ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._downloading = asyncio.Semaphore(max_downloading)

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: Workers, metrics: Metrics) -> LinkFetcher:
        return cls(
            allowed=settings.fetch_hosts,
            workers=workers,
            metrics=metrics,
            timeout=settings.fetch_timeout_seconds,
        )

    async def fetch_all(
        self, links: Sequence[str], scratch: Scratch, *, left: int | None = None
    ) -> list[Attachment]:
        """Every link's document, in order, kept in `scratch`, at most `left` bytes in all (the fax limit).

        Raises LinkRefused for the first link that cannot be used.
        """
        self.check_count(len(links))
        left = self.max_bytes if left is None else left
        fetched: list[Attachment] = []
        for link in links:
            fetched.append(await self.fetch(link, scratch, left=left - sum(a.content.size for a in fetched)))
        return fetched

    def check_count(self, count: int) -> None:
        """Refuse a request with more links than one fax may fetch, before any download."""
        if count > MAX_LINKS:
            raise DocumentRefused(f"{count} links were given; at most {MAX_LINKS} can be fetched at once")

    async def fetch(self, link: str, scratch: Scratch, *, left: int | None = None) -> Attachment:
        """One link's document, refused once it is larger than `left` bytes.

        Only `max_downloading` downloads run at once, whatever the number of requests; others wait.
        """
        try:
            async with self._downloading:
                attachment = await self._fetch(link, scratch, self.max_bytes if left is None else left)
        except LinkRefused as refused:
            self.metrics.fetched(refused.outcome)
            # The person is told why; the log keeps only the host and the kind of refusal.
            log.info("a link to %s was not fetched: %s", _host(link), refused.outcome)
            raise
        self.metrics.fetched("fetched")
        return attachment

    async def _fetch(self, link: str, scratch: Scratch, left: int) -> Attachment:
        try:
            url = httpx.URL(link.strip())
        except httpx.InvalidURL as exc:
            raise LinkRefused(link, "is not a usable link", outcome="bad_link") from exc
        router = Router(link, self.allowed, self.resolve)
        writer = scratch.writer("link")
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    declared = await self._download(router, url, writer, left)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise router.refused(f"took longer than {self.timeout:g} s", "timed_out") from exc
            # On disk for good before the core is asked: an accepted request survives a crash.
            spooled = writer.done(durable=True)
        except BaseException:
            writer.discard()
            raise
        attachment = Attachment(name=_name(url), content=spooled, declared_type=declared)
        try:
            (verdict,) = await judge(self.workers, [attachment])
            _check_type(router, verdict, declared)
        except BaseException:
            spooled.path.unlink(missing_ok=True)  # a refused download leaves nothing behind
            raise
        return dataclasses.replace(attachment, verdict=verdict)

    async def _download(self, router: Router, url: httpx.URL, writer: SpoolWriter, left: int) -> str:
        """Follow the link and its redirects (each checked) and stream the body into `writer`; its declared type."""
        async with httpx.AsyncClient(
            transport=PinnedTransport(router.pins, self.ssl_context),
            trust_env=False,
            follow_redirects=False,
            timeout=self.timeout,
            cookies=_no_cookies(),
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                await router.check(url)
                # A request of our own making: no cookie, no credential, only these headers.
                request = httpx.Request("GET", url, headers=_HEADERS)
                try:
                    response = await client.send(request, stream=True)
                    try:
                        if response.status_code in _REDIRECTS:
                            url = _next(router, response)
                            continue
                        return await _stream(router, response, writer, left, self.max_bytes)
                    finally:
                        await response.aclose()
                except httpx.TimeoutException:
                    raise
                except httpx.TransportError as exc:
                    raise router.refused(_unreachable(exc), "unreachable") from exc
        raise router.refused(f"redirected more than {MAX_REDIRECTS} times", "too_many_redirects")


def _unreachable(exc: BaseException) -> str:
    """Why a host could not be reached; a certificate that does not prove the host's name is said so."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "could not be reached securely: its certificate is not valid for the host"
        seen = seen.__cause__ or seen.__context__
    return f"could not be reached ({type(exc).__name__})"


def _next(router: Router, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location", "")
    if not location:
        raise router.refused(f"answered {response.status_code} without saying where to", "http_error")
    try:
        return response.url.join(location)
    except httpx.InvalidURL as exc:
        raise router.refused("redirected to an unusable link", "bad_link") from exc


async def _stream(router: Router, response: httpx.Response, writer: SpoolWriter, left: int, cap: int) -> str:
    if response.status_code != 200:
        raise router.refused(f"answered {response.status_code}", "http_error")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise router.refused(f"was sent compressed ({encoding[:20]})", "not_a_document")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > left:
        raise router.refused(_too_large(left, cap), "too_large")
    # Straight to the file as it arrives, a chunk at a time, stopped before the file passes the cap.
    async for chunk in response.aiter_raw(CHUNK):
        if writer.size + len(chunk) > left:
            raise router.refused(_too_large(left, cap), "too_large")
        writer.write(chunk)
    return str(response.headers.get("content-type", ""))


def _check_type(router: Router, verdict: Verdict, declared: str) -> None:
    """Refuse a web page (a sign-in page, most often), and any file the core would not fax."""
    declared_type = declared.split(";", 1)[0].strip().lower()
    page = verdict.content_type == "text/html" or (
        declared_type in _WEB_PAGE_TYPES and verdict.content_type in _TEXTUAL
    )
    if page:
        raise router.refused("is a web page, not a document", "web_page")
    if verdict.refusal:
        raise router.refused(f"is not a document that can be faxed: {verdict.refusal}", "not_a_document")


def _too_large(left: int, cap: int) -> str:
    if left >= cap:
        return f"is larger than {_mb(cap)} MB"
    return f"is larger than {_mb(cap)} MB together with the other documents"


def _mb(size: int) -> str:
    return f"{size / 1048576:.1f}".removesuffix(".0")


def _name(url: httpx.URL) -> str:
    """The document's name: the link's last path segment, else its host."""
    return PurePosixPath(unquote(url.path)).name or str(url.host) or "document"


def _host(link: str) -> str:
    """Only the host goes to the log: a link's path and query may say what the document is, or hold a key."""
    try:
        return urlsplit(link.strip()).hostname or "?"
    except ValueError:
        return "?"


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
