"""Downloading Slack files safely: the bot token goes only to the configured file hosts, bytes are checked."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.model import Attachment
from bridge.spooling import Scratch, Spooled, SpoolWriter

log = logging.getLogger("faxbridge.slack.files")
MAX_FILE_BYTES = 50 * 1024 * 1024  # RingCentral's limit for a whole fax; no single file can be larger
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
SIGN_IN_PAGE = (
    "Slack returned a sign-in page instead of the file: the app needs the files:read scope "
    "(reinstall the app after adding it)"
)
_DEFAULT_PORTS = {"https": 443, "http": 80}


class FileProblem(Exception):
    """A file that cannot be fetched or faxed, with its name and the reason in plain words."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def file_name(file: Mapping[str, Any]) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "file")


def too_large(size: int) -> str:
    return f"the file is {size / 1048576:.1f} MB; at most {MAX_FILE_BYTES // 1048576} MB can be faxed"


class SlackFiles:
    """Fetches the files of a message or a modal, in order, as Attachments for the core."""

    def __init__(
        self,
        client: AsyncWebClient,
        token: str,
        hosts: Iterable[str],
        *,
        max_bytes: int = MAX_FILE_BYTES,
        timeout: float = 300.0,
    ) -> None:
        self.client = client
        self._token = token
        self.hosts = frozenset(h.strip().lower() for h in hosts if h.strip())
        self.max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10.0, sock_read=30.0)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch_all(self, files: Sequence[Mapping[str, Any]], scratch: Scratch) -> list[Attachment]:
        """Every file, in the order given, kept in `scratch`; raise FileProblem for the first that cannot be used."""
        return [await self.fetch(file, scratch) for file in files]

    async def fetch(self, file: Mapping[str, Any], scratch: Scratch) -> Attachment:
        details = await self.details(file)
        name = file_name(details)
        if details.get("is_external") or details.get("mode") == "external":
            raise FileProblem(name, "it is a link to a file stored outside Slack; upload the file itself")
        url = details.get("url_private_download") or details.get("url_private")
        if not url:
            raise FileProblem(name, "Slack gave the bot no download link for it")
        declared = int(details.get("size") or 0)
        if declared > self.max_bytes:
            raise FileProblem(name, too_large(declared))
        content = await self._download(str(url), name, scratch, html_expected=_declared_html(details))
        if declared and content.size != declared:
            raise FileProblem(name, f"the download was incomplete ({content.size} of {declared} bytes)")
        return Attachment(name=name, content=content, declared_type=str(details.get("mimetype") or ""))

    async def details(self, file: Mapping[str, Any]) -> Mapping[str, Any]:
        """The full file object: as given, or from files.info when Slack sent it stripped (Slack Connect)."""
        stripped = file.get("file_access") == "check_file_info" or not (
            file.get("url_private_download") or file.get("url_private")
        )
        if not stripped:
            return file
        try:
            answer = await self.client.files_info(file=str(file.get("id", "")))
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            raise FileProblem(file_name(file), f"Slack would not describe the file ({error})") from exc
        info = answer.get("file")
        if not isinstance(info, dict):
            raise FileProblem(file_name(file), "Slack would not describe the file")
        return info

    def allowed(self, url: str) -> bool:
        """Whether the bot token may be sent to `url`: a listed host, over https (http only on loopback)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in _DEFAULT_PORTS or not host:
            return False
        if parts.scheme == "http" and not _loopback(host):
            return False
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return False
        if port == _DEFAULT_PORTS[parts.scheme] and host in self.hosts:
            return True
        return f"{host}:{port}" in self.hosts

    async def _download(self, url: str, name: str, scratch: Scratch, *, html_expected: bool) -> Spooled:
        session = self._session_()
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url):
                host = urlsplit(url).hostname or url
                log.warning("refused to fetch %s from %s: not a configured Slack file host", name, host)
                raise FileProblem(name, f"its link points to {host}, which is not a Slack file host")
            headers = {"Authorization": f"Bearer {self._token}"}
            try:
                async with session.get(url, headers=headers, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        url = urljoin(url, response.headers.get("Location", ""))
                        continue
                    return await self._read(response, name, scratch.writer(), html_expected=html_expected)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise FileProblem(name, f"downloading it from Slack failed ({type(exc).__name__})") from exc
        raise FileProblem(name, "Slack redirected the download too many times")

    async def _read(
        self, response: aiohttp.ClientResponse, name: str, writer: SpoolWriter, *, html_expected: bool
    ) -> Spooled:
        try:
            return await self._stream(response, name, writer, html_expected=html_expected)
        except BaseException:
            writer.discard()
            raise

    async def _stream(
        self, response: aiohttp.ClientResponse, name: str, writer: SpoolWriter, *, html_expected: bool
    ) -> Spooled:
        if response.status in (404, 410):
            raise FileProblem(name, "the file is no longer available in Slack")
        if response.status != 200:
            raise FileProblem(name, f"Slack answered HTTP {response.status} to the download")
        length = response.content_length
        if length is not None and length > self.max_bytes:
            raise FileProblem(name, too_large(length))
        if response.content_type == "text/html" and not html_expected:
            raise FileProblem(name, SIGN_IN_PAGE)
        # Straight to a file as it arrives; only the first bytes are looked at here.
        head = b""
        async for chunk in response.content.iter_chunked(CHUNK):
            if len(head) < 512:
                head += chunk[: 512 - len(head)]
            writer.write(chunk)
            if writer.size > self.max_bytes:
                raise FileProblem(name, too_large(writer.size))
        if not html_expected and _looks_like_html(head):
            raise FileProblem(name, SIGN_IN_PAGE)
        return writer.done()

    def _session_(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No cookies and no environment proxies: nothing but our own header travels with a download.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._session


def _declared_html(file: Mapping[str, Any]) -> bool:
    """A file the person shared as HTML on purpose (which the core can fax) is not Slack's sign-in page."""
    return file.get("filetype") == "html" or file.get("mimetype") == "text/html"


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
