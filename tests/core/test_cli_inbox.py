"""`faxbridge inbox`: received faxes listed (text and JSON), one shown, its document written to a file."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.cli.main import main
from adapters.sqlite import SqliteJobStore
from adapters.sqlite.received import SqliteReceivedFaxes
from bridge.received import Destination, IncomingFax
from tests.helpers.documents import pdf

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
DOCUMENT = pdf(3)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("FAXBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAXBRIDGE_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def keep(data_dir: Path, *, document: bytes | None = DOCUMENT, note: str | None = None) -> str:
    async def run() -> str:
        store = SqliteJobStore(data_dir / "faxbridge.db", data_dir / "spool")
        await store.open()
        try:
            path = None
            if document is not None:
                (data_dir / "in.pdf").write_bytes(document)
                path = str(data_dir / "in.pdf")
            fax = await SqliteReceivedFaxes(store).receive(
                fax=IncomingFax(
                    provider_id="1000000042",
                    from_number="+13125550123",
                    to_number="+12025550199",
                    received=NOW - timedelta(minutes=1),
                    pages=3,
                    content_type="application/pdf",
                    location="x",
                ),
                document=path,
                pages=3,
                destinations=(
                    Destination.parse("slack:C0123ABCD"),
                    Destination.parse("email:desk@example.org"),
                ),
                note=note,
                now=NOW,
            )
            assert fax is not None
            await SqliteReceivedFaxes(store).delivery_failed(
                fax.deliveries[0].id, now=NOW, reason="Slack refused it: not_in_channel", retry_at=None
            )
            return fax.id
        finally:
            await store.close()

    return asyncio.run(run())


def test_inbox_json_lists_each_fax_with_the_documented_fields(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inbox --json`: id, provider_id, from, to, received, pages, and each delivery's destination, state, reason."""
    fax_id = keep(data_dir)
    assert main(["inbox", "--json"]) == 0
    (fax,) = json.loads(capsys.readouterr().out)
    assert {k: fax[k] for k in ("id", "provider_id", "from", "to", "received", "pages")} == {
        "id": fax_id,
        "provider_id": "1000000042",
        "from": "+13125550123",
        "to": "+12025550199",
        "received": "2026-12-02T09:59:00Z",
        "pages": 3,
    }
    assert [(d["destination"], d["state"], d["reason"]) for d in fax["deliveries"]] == [
        ("slack:C0123ABCD", "failed", "Slack refused it: not_in_channel"),
        ("email:desk@example.org", "pending", None),
    ]
    assert all(d["updated"].endswith("Z") for d in fax["deliveries"])


def test_inbox_text_shows_notes_and_delivery_states(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plain listing names the numbers as people read them, each delivery's state, and the note."""
    keep(data_dir, note="2 people faxed +1 312-555-0123 within 14 days: not sent back to any of them")
    assert main(["inbox"]) == 0
    out = capsys.readouterr().out
    assert "+1 312-555-0123" in out and "slack:C0123ABCD failed" in out
    assert "2 people faxed" in out


def test_inbox_show_gives_one_fax_with_reasons(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`inbox show ID` prints each delivery with its reason; `--json` the same object as the list."""
    fax_id = keep(data_dir)
    assert main(["inbox", "show", fax_id]) == 0
    assert "not_in_channel" in capsys.readouterr().out
    assert main(["inbox", "show", fax_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == fax_id


def test_inbox_get_writes_the_pdf_privately_and_never_over_a_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inbox get ID -o FILE` writes the very PDF, mode 0600; an existing FILE is refused, untouched."""
    fax_id = keep(data_dir)
    target = tmp_path / "out.pdf"
    assert main(["inbox", "get", fax_id, "-o", str(target)]) == 0
    assert target.read_bytes() == DOCUMENT
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.write_bytes(b"mine")
    assert main(["inbox", "get", fax_id, "-o", str(target)]) == 1
    assert target.read_bytes() == b"mine"
    assert "exists" in capsys.readouterr().err


def test_inbox_get_of_a_fax_without_its_document_says_so(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A purged document: exit 1 with the reason, and no empty file left behind."""
    fax_id = keep(data_dir, document=None, note="its document could not be fetched")
    target = tmp_path / "out.pdf"
    assert main(["inbox", "get", fax_id, "-o", str(target)]) == 1
    assert "no longer kept" in capsys.readouterr().err
    assert not target.exists()


def test_an_unknown_id_is_a_failure_naming_it(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`inbox show` of an id never kept exits 1 and names it."""
    keep(data_dir)
    assert main(["inbox", "show", "rx-nope"]) == 1
    assert "rx-nope" in capsys.readouterr().err
