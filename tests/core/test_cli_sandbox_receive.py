"""`faxbridge sandbox receive`: a person trying the demo makes the stand-in receive a fax."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.cli.main import main
from adapters.cli.sandbox import URL_FILE
from adapters.ringcentral.standin import RunningStandin, start_standin
from tests.helpers.documents import pdf


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("FAXBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAXBRIDGE_DATA_DIR", str(tmp_path / "var"))
    (tmp_path / "var").mkdir()
    return tmp_path / "var"


@pytest.fixture
async def standin() -> AsyncIterator[RunningStandin]:
    async with await start_standin() as running:
        yield running


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "reply.pdf"
    path.write_bytes(pdf(2))
    return path


async def run(*argv: str) -> int:
    # The command is synchronous; the stand-in answers from this test's loop meanwhile.
    return await asyncio.to_thread(main, list(argv))


async def test_receive_hands_the_named_stand_in_a_fax(
    data_dir: Path, standin: RunningStandin, document: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --url the fax arrives at that stand-in, from and to the numbers given, and the command says so."""
    code = await run(
        "sandbox",
        "receive",
        "--url",
        standin.url,
        "--from",
        "+1 202 555 0123",
        "--to",
        "+16505550199",
        str(document),
    )
    assert code == 0
    (fax,) = standin.standin.received
    assert (fax.from_number, fax.to_number, fax.page_count) == ("+12025550123", "+16505550199", 2)
    assert f"fax {fax.id} received" in capsys.readouterr().out


async def test_receive_finds_the_demo_serves_stand_in(
    data_dir: Path, standin: RunningStandin, document: Path
) -> None:
    """Without --url the command uses the address a demo `serve` noted in the data directory."""
    (data_dir / URL_FILE).write_text(standin.url + "\n")
    assert await run("sandbox", "receive", "--from", "+12025550123", str(document)) == 0
    (fax,) = standin.standin.received
    assert fax.to_number == standin.standin.mailbox.fax_number


async def test_an_unreachable_stand_in_is_a_clear_failure(
    data_dir: Path, document: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No stand-in listening: exit 1 with a line naming the address and what to start."""
    code = await run(
        "sandbox", "receive", "--url", "http://127.0.0.1:9", "--from", "+12025550123", str(document)
    )
    assert code == 1
    error = capsys.readouterr().err
    assert "http://127.0.0.1:9" in error
    assert "faxbridge sandbox" in error


async def test_a_refused_fax_says_why(
    data_dir: Path, standin: RunningStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not a fax document is refused with the stand-in's reason, and nothing arrives."""
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code = await run("sandbox", "receive", "--url", standin.url, "--from", "+12025550123", str(text))
    assert code == 1
    assert "refused" in capsys.readouterr().err
    assert standin.standin.received == []
