"""Downloading Slack files safely: the bot token goes only to the configured file hosts, bytes are checked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.messages import error_of
from bridge.hosts import DEFAULT_PORTS, HostList, is_loopback
from bridge.model import Attachment
from bridge.spooling import Scratch, Spooled, SpoolWriter

log = logging.getLogger("faxbridge.slack.files")
MAX_FILE_BYTES = 50 * 1024 * 1024  # RingCentral's limit for a whole fax: the cap for all of a request's files
MAX_FILES = 10  # what Slack's file picker allows; the same cap holds for messages and shortcuts
MAX_DOWNLOADING = 4  # requests whose files are downloaded at once (each holds up to MAX_FILE_BYTES)
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
SIGN_IN_PAGE = (
    "Slack returned a sign-in page instead of the file: the app needs the files:read scope "
    "(reinstall the app after adding it)"
)


class FileProblem(Exception):
    """Files that cannot be fetched or faxed: the file's name ("" for all of them) and why, in plain words."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}" if name else reason)
        self.name = name
        self.reason = reason

    @property
    def text(self) -> str:
        return str(self)


def file_name(file: Mapping[str, Any]) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "file")


def too_large(size: int) -> str:
    return f"the file is {size / 1048576:.1f} MB; at most {MAX_FILE_BYTES // 1048576} MB can be faxed"


def too_large_together(size: int) -> str:
    return (
        f"the files come to {size / 1048576:.1f} MB together; "
        f"at most {MAX_FILE_BYTES // 1048576} MB can be faxed at once"
    )


def too_many(count: int) -> str:
    return f"{count} files were shared; at most {MAX_FILES} can be faxed at once"


def declared_size(files: Sequence[Mapping[str, Any]]) -> int:
    """What Slack says the files weigh together (files sent stripped count as 0 until looked up)."""
    return sum(max(0, int(f.get("size") or 0)) for f in files)


def over_the_limits(files: Sequence[Mapping[str, Any]]) -> FileProblem | None:
    """Why these files cannot be faxed, judging by what Slack says of them (count and sizes), else None."""
    if len(files) > MAX_FILES:
        return FileProblem("", too_many(len(files)))
    for file in files:
        if int(file.get("size") or 0) > MAX_FILE_BYTES:
            return FileProblem(file_name(file), too_large(int(file["size"])))
    if declared_size(files) > MAX_FILE_BYTES:
        return FileProblem("", too_large_together(declared_size(files)))
    return None


class SlackFiles:
    """Fetches the files of a message or a modal, in order, as Attachments for the core."""

    def __init__(
        self,
        client: AsyncWebClient,
        token: str,
        hosts: Iterable[str],
        *,
        max_bytes: int = MAX_FILE_BYTES,
        max_downloading: int = MAX_DOWNLOADING,
        timeout: float = 300.0,
    ) -> None:
        self.client = client
        self._token = token
        self.hosts = HostList.parse(hosts)
        self.max_bytes = max_bytes
        # Bounds the memory and bandwidth downloads take, however many requests arrive at once.
        self._downloading = asyncio.Semaphore(max_downloading)
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10.0, sock_read=30.0)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch_all(
        self, files: Sequence[Mapping[str, Any]], scratch: Scratch, *, left: int | None = None
    ) -> list[Attachment]:
        """Every file, in the order given, kept in `scratch`, at most `left` bytes in all (`max_bytes` unless
        the request's other documents took some); raise FileProblem for the first that cannot be used.
        Only `max_downloading` requests download at once; the others wait their turn."""
        problem = over_the_limits(files)
        if problem is not None:
            raise problem
        budget = self.max_bytes if left is None else left
        async with self._downloading:
            fetched: list[Attachment] = []
            for file in files:
                left = budget - sum(a.content.size for a in fetched)
                fetched.append(await self.fetch(file, scratch, left=left))
            return fetched

    async def fetch(
        self, file: Mapping[str, Any], scratch: Scratch, *, left: int | None = None
    ) -> Attachment:
        """One file, refused once it is larger than `left` bytes (what the request's other files leave)."""
        left = self.max_bytes if left is None else left
        details = await self.details(file)
        name = file_name(details)
        if details.get("is_external") or details.get("mode") == "external":
            raise FileProblem(name, "it is a link to a file stored outside Slack; upload the file itself")
        url = details.get("url_private_download") or details.get("url_private")
        if not url:
            raise FileProblem(name, "Slack gave the bot no download link for it")
        declared = int(details.get("size") or 0)
        if declared > left:
            raise FileProblem(name, self._over(declared, left))
        content = await self._download(
            str(url), name, scratch, left=left, html_expected=_declared_html(details)
        )
        if declared and content.size != declared:
            raise FileProblem(name, f"the download was incomplete ({content.size} of {declared} bytes)")
        return Attachment(name=name, content=content, declared_type=str(details.get("mimetype") or ""))

    def _over(self, size: int, left: int) -> str:
        """Why `size` bytes do not fit: too big alone, or too big with the files before it."""
        if size > self.max_bytes:
            return too_large(size)
        return too_large_together(size + self.max_bytes - left)

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
            raise FileProblem(
                file_name(file), f"Slack would not describe the file ({error_of(exc)})"
            ) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("files.info failed: %s", type(exc).__name__)
            reason = (
                f"Slack could not be reached to look the file up ({type(exc).__name__}); please try again"
            )
            raise FileProblem(file_name(file), reason) from exc
        info = answer.get("file")
        if not isinstance(info, dict):
            raise FileProblem(file_name(file), "Slack would not describe the file")
        return info

    def allowed(self, url: str) -> bool:
        """Whether the bot token may be sent to `url`: a listed host, over https (http only on loopback)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in DEFAULT_PORTS or not host:
            return False
        if parts.scheme == "http" and not is_loopback(host):
            return False
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return False
        return self.hosts.allows(host, port, parts.scheme)

    async def _download(
        self, url: str, name: str, scratch: Scratch, *, left: int, html_expected: bool
    ) -> Spooled:
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
                    return await self._read(
                        response, name, scratch.writer(), left=left, html_expected=html_expected
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("download of a Slack file failed: %s", type(exc).__name__)
                raise FileProblem(name, f"downloading it from Slack failed ({type(exc).__name__})") from exc
        raise FileProblem(name, "Slack redirected the download too many times")

    async def _read(
        self,
        response: aiohttp.ClientResponse,
        name: str,
        writer: SpoolWriter,
        *,
        left: int,
        html_expected: bool,
    ) -> Spooled:
        try:
            return await self._stream(response, name, writer, left=left, html_expected=html_expected)
        except BaseException:
            writer.discard()
            raise

    async def _stream(
        self,
        response: aiohttp.ClientResponse,
        name: str,
        writer: SpoolWriter,
        *,
        left: int,
        html_expected: bool,
    ) -> Spooled:
        if response.status in (404, 410):
            raise FileProblem(name, "the file is no longer available in Slack")
        if response.status != 200:
            raise FileProblem(name, f"Slack answered HTTP {response.status} to the download")
        length = response.content_length
        if length is not None and length > left:
            raise FileProblem(name, self._over(length, left))
        if response.content_type == "text/html" and not html_expected:
            raise FileProblem(name, SIGN_IN_PAGE)
        # Straight to a file as it arrives; only the first bytes are looked at here.
        head = b""
        async for chunk in response.content.iter_chunked(CHUNK):
            if len(head) < 512:
                head += chunk[: 512 - len(head)]
            writer.write(chunk)
            if writer.size > left:
                raise FileProblem(name, self._over(writer.size, left))
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
