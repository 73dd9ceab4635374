"""`faxbridge send` with links: fetched in the order given among the files, or refused naming the link."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.cli.main import main
from bridge.testing import sample_pdf
from tests.helpers.links import LinkServer, link_server


@pytest.fixture
async def docs() -> AsyncIterator[LinkServer]:
    async with link_server(tls=False) as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docs: LinkServer) -> Path:
    """A fresh data directory, with the document server's loopback port listed."""
    for name in list(os.environ):
        if name.startswith("FAXBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAXBRIDGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FAXBRIDGE_FETCH_ALLOWED_HOSTS", f"127.0.0.1:{docs.port}")
    return tmp_path


async def _run(*argv: str) -> int:
    # The command runs its own event loop, as from a shell; the server keeps this one.
    return await asyncio.to_thread(main, list(argv))


async def _jobs(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert await _run("jobs", "--json") == 0
    jobs: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return jobs


async def test_links_and_files_are_faxed_in_the_order_given(
    data_dir: Path, docs: LinkServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`send LINK FILE LINK` queues one fax with the three documents in that order, each link fetched once."""
    letter = data_dir / "letter.pdf"
    letter.write_bytes(sample_pdf(3))
    first, last = docs.url("/doc/b.pdf", host="127.0.0.1"), docs.url("/doc/a.pdf", host="127.0.0.1")
    assert await _run("send", "--to", "+1 202 555 0123", first, str(letter), last) == 0
    job_id = capsys.readouterr().out.split()[0]
    assert await _run("status", job_id, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert [(d["name"], d["pages"]) for d in status["documents"]] == [
        ("cover.pdf", 1),
        ("b.pdf", 2),
        ("letter.pdf", 3),
        ("a.pdf", 1),
    ]
    assert docs.hits["/doc/b.pdf"] == docs.hits["/doc/a.pdf"] == 1


@pytest.mark.parametrize(
    ("path", "host", "reason"),
    [
        ("/redirect?to=https://169.254.169.254/latest/meta-data/", "listed", "points into a private network"),
        ("/doc/a.pdf", "unlisted-port", "points into a private network"),
        ("/doc/a.pdf", "by-name", "uses plain http"),
        ("/page", "listed", "is a web page, not a document"),
        ("/doc/missing.pdf", "listed", "answered 404"),
        ("/endless", "listed", "is larger than 50 MB together with the other documents"),
        ("/slow", "listed", "took longer than 1 s"),
    ],
)
async def test_a_refused_link_exits_1_naming_it_and_queues_nothing(
    data_dir: Path,
    docs: LinkServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    host: str,
    reason: str,
) -> None:
    """Each refusal is one line naming the link and the reason, exit code 1, and no job at all."""
    monkeypatch.setenv("FAXBRIDGE_FETCH_TIMEOUT_SECONDS", "1" if path == "/slow" else "30")
    link = {
        "listed": docs.url(path, host="127.0.0.1"),
        "unlisted-port": f"https://127.0.0.1:{docs.port + 1}{path}",
        "by-name": docs.url(path, host="localhost"),
    }[host]
    letter = data_dir / "letter.pdf"
    letter.write_bytes(sample_pdf(1))
    assert await _run("send", "--to", "+1 202 555 0123", str(letter), link) == 1
    shown = link.split("?", 1)[0] + ("?…" if "?" in link else "")
    assert capsys.readouterr().err == f"faxbridge: the link {shown} {reason}\n"
    assert await _jobs(capsys) == []


async def test_a_missing_file_stops_before_any_download(
    data_dir: Path, docs: LinkServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that cannot be read is reported (exit 2) before the link beside it is fetched."""
    link = docs.url("/doc/a.pdf", host="127.0.0.1")
    assert await _run("send", "--to", "+1 202 555 0123", link, str(data_dir / "gone.pdf")) == 2
    assert "cannot read" in capsys.readouterr().err
    assert sum(docs.hits.values()) == 0
    assert await _jobs(capsys) == []
