"""The bot token's two guards when downloading Slack files: a listed host matched exactly, and never plain
http to a host that is not this machine."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.files import FileProblem, SlackFiles
from bridge.spooling import Scratch
from tests.slack.slack_fakes import BOT_TOKEN, ForeignHost


def _files(*hosts: str) -> SlackFiles:
    # The Web API client is never called for a file object that carries its links.
    client = AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/")
    return SlackFiles(client, BOT_TOKEN, hosts)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.slack.com/files-pri/T0-F1/a.pdf", True),
        ("https://FILES.Slack.com/files-pri/T0-F1/a.pdf", True),
        ("https://files.slack.com:443/files-pri/T0-F1/a.pdf", True),
        ("https://evil-files.slack.com/a.pdf", False),
        ("https://attacker.files.slack.com/a.pdf", False),
        ("https://files.slack.com.attacker.example/a.pdf", False),
        ("https://xfiles.slack.com/a.pdf", False),
        ("https://files.slack.co/a.pdf", False),
        ("https://files.slack.com:8443/a.pdf", False),
        ("https://files.slack.com@attacker.example/a.pdf", False),
        ("ftp://files.slack.com/a.pdf", False),
    ],
)
def test_file_hosts_are_matched_exactly(url: str, allowed: bool) -> None:
    """Only the listed host itself (any case, its default port) gets the token: no suffix, prefix or lookalike.

    Mutation caught: matching hosts by suffix (`host.endswith(listed)`), which lets
    attacker.files.slack.com and evil-files.slack.com have the token.
    """
    assert _files("files.slack.com").allowed(url) is allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://files.slack.com/a.pdf", False),
        ("http://files.slack.com:80/a.pdf", False),
        ("http://files.internal.example:8080/a.pdf", False),
        ("http://10.0.0.5:8080/a.pdf", False),
        ("http://127.0.0.1:8080/a.pdf", True),
        ("http://localhost:8080/a.pdf", True),
    ],
)
def test_plain_http_only_to_this_machine(url: str, allowed: bool) -> None:
    """Even a listed host gets the token over plain http only when it is loopback (a local test double).

    Mutation caught: dropping the "http only to loopback" rule, which sends the token in clear.
    """
    hosts = ("files.slack.com", "files.internal.example:8080", "10.0.0.5:8080")
    loopback = ("127.0.0.1:8080", "localhost:8080")
    assert _files(*hosts, *loopback).allowed(url) is allowed


class EverythingIsHere(AbstractResolver):
    """Resolves every name to 127.0.0.1, so a download that should never happen lands on a local recorder."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0)
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def recorder() -> AsyncIterator[ForeignHost]:
    host = ForeignHost()
    await host.start()
    yield host
    await host.close()


async def test_the_token_never_travels_in_clear_to_a_named_host(
    recorder: ForeignHost, tmp_path: Path
) -> None:
    """A listed host name over plain http is refused before any connection: nothing reaches the host.

    Mutation caught: dropping the "http only to loopback" rule (the recorder would get the bot token).
    """
    name = f"files.slack.com:{recorder.port}"
    files = _files(name)
    files._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=EverythingIsHere()))
    file: dict[str, Any] = {
        "id": "F1",
        "name": "a.pdf",
        "size": 10,
        "url_private_download": f"http://{name}/files-pri/T0-F1/download/a.pdf",
    }
    try:
        with pytest.raises(FileProblem, match="not a Slack file host"):
            await files.fetch(file, Scratch.create(tmp_path))
    finally:
        await files.close()
    assert recorder.requests == []
