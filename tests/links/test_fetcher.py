"""Documents by link against a real HTTPS server on loopback: fetched whole and in order, or refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.links import LinkFetcher, LinkRefused
from adapters.links.fetcher import CHUNK, MAX_LINKS
from bridge.errors import DocumentRefused
from bridge.hosts import HostList
from bridge.metrics import Metrics
from bridge.pipeline import MAX_TOTAL_BYTES
from bridge.spooling import Scratch
from bridge.workers import ThreadWorkers
from tests.helpers.links import HOST_NAME, LinkServer, Make, RecordingScratch, link_server
from tests.helpers.ports import free_port


def _files(scratch: Scratch) -> list[Path]:
    return sorted(scratch.path.iterdir())


async def _refused(fetcher_call: object) -> LinkRefused:
    with pytest.raises(LinkRefused) as refused:
        await fetcher_call  # type: ignore[misc]
    return refused.value


async def test_a_link_gives_the_same_bytes(server: LinkServer, make_fetcher: Make, scratch: Scratch) -> None:
    """The document arrives byte for byte, on disk, typed from its bytes, named after the link."""
    metrics = Metrics()
    fetcher = make_fetcher(allowed=(server.listed,), metrics=metrics)
    attachment = await fetcher.fetch(server.url("/doc/a.pdf"), scratch)
    assert attachment.content.read() == server.documents["a.pdf"]
    assert attachment.name == "a.pdf"
    assert attachment.verdict is not None and attachment.verdict.content_type == "application/pdf"
    assert attachment.content.path.parent == scratch.path
    assert metrics.fetches.labels(outcome="fetched")._value.get() == 1


async def test_links_keep_their_order(server: LinkServer, make_fetcher: Make, scratch: Scratch) -> None:
    """Several links come back in the order given, each its own document."""
    fetcher = make_fetcher(allowed=(server.listed,))
    got = await fetcher.fetch_all([server.url("/doc/b.pdf"), server.url("/doc/a.pdf")], scratch)
    assert [a.content.read() for a in got] == [server.documents["b.pdf"], server.documents["a.pdf"]]
    assert [a.verdict.pages for a in got if a.verdict] == [2, 1]


async def test_the_connection_goes_to_the_resolved_address_with_tls_for_the_name(
    make_fetcher: Make, scratch: Scratch
) -> None:
    """TLS is verified for the link's host name on the pinned address (mutation: verifying nothing, or the address).

    The server's certificate names another host: the download must fail although the address is right.
    """
    async with link_server(names=("other.example.test",)) as wrong:
        fetcher = make_fetcher(allowed=(wrong.listed,), resolve=wrong.resolve)
        fetcher.ssl_context = wrong.client_tls
        refused = await _refused(fetcher.fetch(wrong.url("/doc/a.pdf"), scratch))
    assert refused.reason.endswith("could not be reached securely: its certificate is not valid for the host")
    assert refused.outcome == "unreachable"


async def test_a_name_is_resolved_once_per_download(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """A redirect back to the same host uses the address checked first (mutation: resolving each hop)."""
    asked: list[str] = []

    async def counting(host: str, port: int) -> list[str]:
        asked.append(host)
        return await server.resolve(host, port)

    fetcher = make_fetcher(allowed=(server.listed,), resolve=counting)
    link = server.url("/redirect?to=/doc/a.pdf")
    attachment = await fetcher.fetch(link, scratch)
    assert attachment.content.read() == server.documents["a.pdf"]
    assert asked == [HOST_NAME]


@pytest.mark.parametrize(
    "target",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://127.0.0.1:{port}/doc/a.pdf",
    ],
)
async def test_a_redirect_into_the_private_network_is_refused(
    server: LinkServer, make_fetcher: Make, scratch: Scratch, target: str
) -> None:
    """A listed host that redirects to metadata or loopback is refused there (mutation: checking only the link)."""
    fetcher = make_fetcher(allowed=(server.listed,))
    link = server.url("/redirect?to=" + target.format(port=server.port))
    refused = await _refused(fetcher.fetch(link, scratch))
    assert refused.reason.endswith("points into a private network")
    assert server.hits["/doc/a.pdf"] == 0
    assert _files(scratch) == []


async def test_an_unlisted_loopback_port_is_refused(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """Listing one loopback port opens no other (mutation: matching the host and ignoring the port)."""
    fetcher = make_fetcher(allowed=(f"127.0.0.1:{server.port + 1}",))
    link = server.url("/doc/a.pdf", host="127.0.0.1")
    refused = await _refused(fetcher.fetch(link, scratch))
    assert str(refused) == f"the link {link} points into a private network"
    assert sum(server.hits.values()) == 0


async def test_a_listed_loopback_port_is_fetched(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """A private address listed with its port is reachable: the allowlist is the way to an intranet."""
    fetcher = make_fetcher(allowed=(f"127.0.0.1:{server.port}",))
    attachment = await fetcher.fetch(server.url("/doc/a.pdf", host="127.0.0.1"), scratch)
    assert attachment.content.read() == server.documents["a.pdf"]


@pytest.mark.parametrize("addresses", [["10.1.2.3"], ["fd00:ec2::254"], ["169.254.169.254"], ["::1"]])
async def test_a_name_that_resolves_to_a_private_address_is_refused(
    make_fetcher: Make, scratch: Scratch, addresses: list[str]
) -> None:
    """DNS that answers with a private address cannot lead a download inside (mutation: no address check)."""

    async def private(host: str, port: int) -> list[str]:
        return addresses

    fetcher = make_fetcher(resolve=private)
    refused = await _refused(fetcher.fetch("https://innocent.example/report.pdf", scratch))
    assert str(refused) == "the link https://innocent.example/report.pdf points into a private network"
    assert refused.outcome == "private_address"


async def test_a_web_page_is_refused(server: LinkServer, make_fetcher: Make, scratch: Scratch) -> None:
    """A sign-in page instead of the document is refused by its bytes (mutation: accepting HTML)."""
    metrics = Metrics()
    fetcher = make_fetcher(allowed=(server.listed,), metrics=metrics)
    refused = await _refused(fetcher.fetch(server.url("/page"), scratch))
    assert refused.reason.endswith("is a web page, not a document")
    assert _files(scratch) == []
    assert metrics.fetches.labels(outcome="web_page")._value.get() == 1


async def test_a_page_served_as_html_without_a_doctype_is_refused(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """Text the server calls text/html is a web page even when its bytes read as plain text."""
    fetcher = make_fetcher(allowed=(server.listed,))
    refused = await _refused(fetcher.fetch(server.url("/fragment"), scratch))
    assert refused.reason.endswith("is a web page, not a document")


async def test_a_body_over_the_cap_is_refused_while_streaming(
    server: LinkServer, make_fetcher: Make, tmp_path: Path
) -> None:
    """An endless body stops at the fax limit: the spool never held more than the cap and one chunk.

    Mutation: writing the whole body before checking its size (the spool would pass the cap).
    """
    scratch = RecordingScratch.create(tmp_path / "incoming")
    fetcher = make_fetcher(allowed=(server.listed,))
    refused = await _refused(fetcher.fetch(server.url("/endless"), scratch))
    assert refused.reason.endswith("is larger than 50 MB")
    assert 0 < scratch.peak <= MAX_TOTAL_BYTES + CHUNK
    assert _files(scratch) == []


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    server: LinkServer, make_fetcher: Make, tmp_path: Path
) -> None:
    """A Content-Length above what is left is refused without writing a byte."""
    server.documents["big.pdf"] = b"%PDF-1.4\n" + bytes(2 * 1048576)
    scratch = RecordingScratch.create(tmp_path / "incoming")
    fetcher = make_fetcher(allowed=(server.listed,), max_bytes=1048576)
    refused = await _refused(fetcher.fetch(server.url("/doc/big.pdf"), scratch))
    assert refused.reason.endswith("is larger than 1 MB")
    assert scratch.peak == 0


async def test_links_share_the_cap_of_one_fax(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """What earlier documents took is not available to later ones (mutation: a full cap per link)."""
    size = len(server.documents["a.pdf"])
    fetcher = make_fetcher(allowed=(server.listed,), max_bytes=size + 10)
    with pytest.raises(LinkRefused, match="together with the other documents"):
        await fetcher.fetch_all([server.url("/doc/a.pdf"), server.url("/doc/a.pdf")], scratch)


async def test_a_slow_server_is_cut_off(server: LinkServer, make_fetcher: Make, scratch: Scratch) -> None:
    """A server that drips bytes forever is stopped by the total time limit (mutation: only per-read timeouts)."""
    fetcher = make_fetcher(allowed=(server.listed,), timeout=0.5)
    refused = await _refused(fetcher.fetch(server.url("/slow"), scratch))
    assert refused.reason.endswith("took longer than 0.5 s")
    assert refused.outcome == "timed_out"
    assert _files(scratch) == []


async def test_plain_http_is_refused_for_an_unlisted_host(scratch: Scratch, make_fetcher: Make) -> None:
    """http:// is refused unless the host is listed (mutation: allowing http everywhere)."""
    async with link_server(tls=False) as plain:
        fetcher = make_fetcher(resolve=plain.resolve)
        link = plain.url("/doc/a.pdf")
        refused = await _refused(fetcher.fetch(link, scratch))
        assert str(refused) == f"the link {link} uses plain http"
        assert sum(plain.hits.values()) == 0
        listed = make_fetcher(allowed=(plain.listed,), resolve=plain.resolve)
        assert (await listed.fetch(link, scratch)).content.read() == plain.documents["a.pdf"]


async def test_an_error_status_is_named(server: LinkServer, make_fetcher: Make, scratch: Scratch) -> None:
    """A 404 is refused as "answered 404"."""
    fetcher = make_fetcher(allowed=(server.listed,))
    refused = await _refused(fetcher.fetch(server.url("/doc/missing.pdf"), scratch))
    assert refused.reason.endswith("answered 404")


async def test_redirects_stop_after_five(server: LinkServer, make_fetcher: Make, scratch: Scratch) -> None:
    """A redirect loop is followed five times, then refused (mutation: no redirect limit)."""
    fetcher = make_fetcher(allowed=(server.listed,))
    refused = await _refused(fetcher.fetch(server.url("/loop"), scratch))
    assert refused.reason.endswith("redirected more than 5 times")
    assert server.hits["/loop"] == 6


async def test_no_cookie_and_no_credential_travel(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """A cookie set on a redirect is not sent on; a link with a password is refused before any request.

    Mutation caught: requests built by the client from its cookie jar.
    """
    fetcher = make_fetcher(allowed=(server.listed,))
    await fetcher.fetch(server.url("/redirect?to=/doc/a.pdf"), scratch)
    seen = {k.lower() for k in server.headers_seen[-1]}
    assert "cookie" not in seen
    assert "authorization" not in seen
    refused = await _refused(fetcher.fetch(server.url("/doc/a.pdf", host=f"ann:pw@{HOST_NAME}"), scratch))
    assert refused.reason.endswith("carries a user name or password")
    assert server.hits["/doc/a.pdf"] == 1


async def test_no_proxy_from_the_environment(
    server: LinkServer, make_fetcher: Make, scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY in the environment is ignored: a download goes only through the pinned transport to the host."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    fetcher = make_fetcher(allowed=(server.listed,))
    assert (await fetcher.fetch(server.url("/doc/a.pdf"), scratch)).content.read() == server.documents[
        "a.pdf"
    ]


@pytest.mark.parametrize(
    "link", ["ftp://docs.example/a.pdf", "file:///etc/passwd", "https://", "https://exa mple/"]
)
async def test_links_that_are_not_https_urls_are_refused(
    make_fetcher: Make, scratch: Scratch, link: str
) -> None:
    """Other schemes and broken links are refused with the link named, never fetched."""
    refused = await _refused(make_fetcher().fetch(link, scratch))
    assert refused.outcome == "bad_link"
    assert str(refused).startswith("the link ")


async def test_too_many_links_are_refused_before_any_download(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """More links than a fax may fetch at once are refused whole, none downloaded."""
    fetcher = make_fetcher(allowed=(server.listed,))
    with pytest.raises(DocumentRefused, match=f"at most {MAX_LINKS}"):
        await fetcher.fetch_all([server.url("/doc/a.pdf")] * (MAX_LINKS + 1), scratch)
    assert sum(server.hits.values()) == 0


@pytest.mark.parametrize(
    "link",
    [
        "https://2130706433/a.pdf",
        "https://0x7f.0.0.1/a.pdf",
        "https://127.1/a.pdf",
        "https://017700000001/a.pdf",
        "https://[::ffff:7f00:1]/a.pdf",
        "https://localhost/a.pdf",
    ],
)
async def test_other_spellings_of_loopback_are_refused(
    scratch: Scratch, workers: ThreadWorkers, link: str
) -> None:
    """Decimal, hex, short and IPv4-mapped spellings of 127.0.0.1 are judged by the address they resolve to.

    The system resolver is used (these are numbers or `localhost`: no DNS query leaves the machine).
    """
    fetcher = LinkFetcher(allowed=HostList(), workers=workers, metrics=Metrics(), timeout=5.0)
    refused = await _refused(fetcher.fetch(link, scratch))
    assert refused.outcome == "private_address"


async def test_the_log_names_the_host_only(
    server: LinkServer, make_fetcher: Make, scratch: Scratch, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused link is logged by host and outcome: never its path, its query (a signed key) or the document.

    httpx's own request lines, which carry the URL, are kept quiet by the logging setup of every command.
    """
    # Set on the module's own logger: Slack's bolt app, named faxbridge, sets the level of `faxbridge`.
    caplog.set_level("DEBUG", logger="faxbridge.links")
    fetcher = make_fetcher(allowed=(server.listed,))
    with pytest.raises(LinkRefused):
        await fetcher.fetch(server.url("/doc/secret-merger-plan.pdf?X-Amz-Signature=s3cr3t"), scratch)
    await fetcher.fetch(server.url("/doc/a.pdf"), scratch)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("faxbridge"))
    assert "a link to docs.example.test was not fetched: http_error" in logged
    assert "s3cr3t" not in logged
    assert "merger" not in logged
    assert "first" not in logged  # the text inside the fetched PDF


async def test_a_compressed_body_is_refused_unread(
    server: LinkServer, make_fetcher: Make, scratch: Scratch
) -> None:
    """A body sent gzip-encoded though identity was asked is refused, never inflated in memory.

    Mutation caught: reading the decoded stream (a small body could inflate past any cap a chunk at a time).
    """
    fetcher = make_fetcher(allowed=(server.listed,))
    refused = await _refused(fetcher.fetch(server.url("/compressed"), scratch))
    assert refused.reason.endswith("was sent compressed (gzip)")
    assert _files(scratch) == []
    assert server.headers_seen == [] or all(
        h.get("Accept-Encoding") == "identity" for h in server.headers_seen
    )


async def test_a_closed_port_is_named_unreachable(make_fetcher: Make, scratch: Scratch) -> None:
    """A listed host that refuses the connection is answered as unreachable, with the kind of failure."""
    port = free_port()  # nothing listens there
    fetcher = make_fetcher(allowed=(f"127.0.0.1:{port}",))
    refused = await _refused(fetcher.fetch(f"https://127.0.0.1:{port}/a.pdf", scratch))
    assert refused.reason.endswith("could not be reached (ConnectError)")
