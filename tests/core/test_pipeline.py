"""The ordering pipeline, step by step and whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cover import render_sheet
from bridge.errors import DocumentRefused, NothingToFax, TooLarge
from bridge.model import (
    Attachment,
    Channel,
    Cover,
    Destination,
    Document,
    FaxRequest,
    LeftOut,
    Origin,
)
from bridge.pipeline import (
    MAX_TOTAL_BYTES,
    Draft,
    PipelineConfig,
    build_cover,
    check_limits,
    classify_documents,
    clean_filename,
    clean_names,
    prepare,
)
from bridge.spooling import Spooled
from bridge.testing import attached, sample_image, sample_pdf

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DEST = Destination(e164="+12025550123", region="US", display="+1 202-555-0123")
ORIGIN = Origin(channel=Channel.CLI, sender="tester")


def _request(*attachments: Attachment, note: str = "", strict: bool = False) -> FaxRequest:
    return FaxRequest(
        to=("+12025550123",),
        origin=ORIGIN,
        attachments=attachments,
        cover=Cover(sender="Ann", subject="Referral", note=note),
        strict=strict,
    )


def _draft(request: FaxRequest, cover_mode: str = "generated") -> Draft:
    return Draft(request=request, destinations=[DEST], config=PipelineConfig(cover_mode=cover_mode, now=NOW))


def test_classify_keeps_order_and_leaves_out_unfaxable_parts() -> None:
    """Faxable attachments keep the sender's order; the rest are listed as left out with why."""
    draft = _draft(
        _request(
            attached("b.pdf", sample_pdf(2)),
            attached("setup.exe", b"MZ" + b"\x00" * 64),
            attached("a.png", sample_image("PNG")),
        )
    )
    classify_documents(draft)
    assert [d.name for d in draft.documents] == ["b.pdf", "a.png"]
    assert draft.left_out == [
        LeftOut(name="setup.exe", reason="programs and scripts cannot be faxed", attachment=True)
    ]


def test_adapter_left_out_parts_are_kept() -> None:
    """Parts an adapter already set aside (a signature logo) stay in the left-out list."""
    request = FaxRequest(
        to=("+12025550123",),
        origin=ORIGIN,
        attachments=(attached("x.pdf", sample_pdf(1)),),
        left_out=(LeftOut(name="logo.png", reason="inline image in the signature"),),
    )
    draft = _draft(request)
    classify_documents(draft)
    assert draft.left_out[0].name == "logo.png"


def test_strict_request_refuses_whole_with_the_file_name() -> None:
    """With strict, one unfaxable file refuses the request, naming that file."""
    draft = _draft(_request(attached("ok.pdf", sample_pdf(1)), attached("x.bin", b""), strict=True))
    with pytest.raises(DocumentRefused, match=r"x\.bin: the file is empty"):
        classify_documents(draft)


@pytest.mark.parametrize(
    ("raw", "content_type", "clean"),
    [
        ("../../etc/passwd.pdf", "application/pdf", "passwd.pdf"),
        ("C:\\Users\\ann\\Q&A #3 @50%*.pdf", "application/pdf", "Q_A _3 _50.pdf"),
        ("scan", "application/pdf", "scan.pdf"),
        ("photo.jpeg", "image/jpeg", "photo.jpeg"),
        ("image.pdf", "image/png", "image.pdf.png"),
        ("", "text/plain", "document.txt"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 96 + ".pdf"),
        ("Überweisung März.pdf", "application/pdf", "Überweisung März.pdf"),
    ],
)
def test_clean_filename(raw: str, content_type: str, clean: str) -> None:
    """Names lose paths and RingCentral's forbidden characters, keep or gain the right extension."""
    assert clean_filename(raw, content_type) == clean


def test_clean_names_makes_duplicates_unique() -> None:
    """Two attachments with the same name are sent under distinct names."""
    draft = _draft(_request(attached("a.pdf", sample_pdf(1)), attached("A.pdf", sample_pdf(1))))
    classify_documents(draft)
    clean_names(draft)
    assert [d.name for d in draft.documents] == ["a.pdf", "A-2.pdf"]


def test_nothing_to_fax_lists_what_was_left_out() -> None:
    """A request with no faxable part and no text is refused, saying what was left out."""
    draft = _draft(_request(attached("x.exe", b"MZ" + b"\0" * 50)))
    draft.request = FaxRequest(to=draft.request.to, origin=ORIGIN, attachments=draft.request.attachments)
    classify_documents(draft)
    with pytest.raises(NothingToFax, match=r"x\.exe"):
        check_limits(draft)


def test_too_many_bytes_is_refused() -> None:
    """Over 50 MB of documents is refused before anything is stored."""
    draft = _draft(_request())
    huge = Spooled(path=Path("big.txt"), size=MAX_TOTAL_BYTES + 1, sha256="")
    draft.documents = [Document(name="big.txt", content_type="text/plain", pages=1, content=huge)]
    with pytest.raises(TooLarge, match="50 MB"):
        check_limits(draft)


def test_too_many_pages_is_refused() -> None:
    """200 document pages plus a cover is over RingCentral's 200-page limit."""
    draft = _draft(_request(attached("long.pdf", sample_pdf(200))))
    classify_documents(draft)
    with pytest.raises(TooLarge, match="201 pages"):
        check_limits(draft)


def test_generated_cover_comes_first_with_cover_index_zero() -> None:
    """The generated cover is one page, counted first, with coverIndex 0; what it says is kept for sending."""
    prepared = prepare(_request(attached("a.pdf", sample_pdf(2))), [DEST], PipelineConfig(now=NOW))
    sheet = prepared.covers[DEST.e164]
    assert (sheet.to, sheet.pages, sheet.when) == (DEST.display, 3, NOW)
    assert sheet.cover.subject == "Referral" and sheet.cover.recipient == DEST.display
    assert [d.name for d in prepared.documents] == ["a.pdf"]
    assert prepared.envelope.cover_index == 0
    assert prepared.pages_for(DEST.e164) == 3
    assert render_sheet(sheet).startswith(b"%PDF")


def test_provider_cover_uses_template_and_text() -> None:
    """`provider:N` sends RingCentral's template N with the subject and note as coverPageText."""
    draft = _draft(_request(attached("a.pdf", sample_pdf(1)), note="Please call back"), "provider:3")
    classify_documents(draft)
    build_cover(draft)
    assert draft.envelope.cover_index == 3
    assert "Referral" in (draft.envelope.cover_page_text or "")
    assert "Please call back" in (draft.envelope.cover_page_text or "")
    assert draft.covers == {}


def test_no_cover_sends_documents_only() -> None:
    """`none` sends no cover page: coverIndex 0 and no cover document."""
    prepared = prepare(
        _request(attached("a.pdf", sample_pdf(1))),
        [DEST],
        PipelineConfig(cover_mode="none", now=NOW),
    )
    assert prepared.envelope.cover_index == 0
    assert prepared.covers == {}
    assert prepared.pages_for(DEST.e164) == 1


def test_text_only_request_is_faxed_as_its_cover() -> None:
    """A request with text and no documents becomes a one-page fax: the cover."""
    prepared = prepare(
        _request(note="Call me about the referral."), [DEST], PipelineConfig(cover_mode="none", now=NOW)
    )
    assert prepared.documents == ()
    assert prepared.covers[DEST.e164].pages == 1
    assert prepared.pages_for(DEST.e164) == 1


def test_each_destination_gets_its_own_cover() -> None:
    """Two numbers share the documents but each cover names its own number."""
    other = Destination(e164="+12025550188", region="US", display="+1 202-555-0188")
    prepared = prepare(_request(attached("a.pdf", sample_pdf(1))), [DEST, other], PipelineConfig(now=NOW))
    assert set(prepared.covers) == {DEST.e164, other.e164}
    assert prepared.covers[DEST.e164].to != prepared.covers[other.e164].to
    assert render_sheet(prepared.covers[DEST.e164]) != render_sheet(prepared.covers[other.e164])


def test_attachments_all_left_out_are_refused_whatever_the_text() -> None:
    """A request whose only attachment is unfaxable is refused with the reason, even with a subject and note."""
    draft = _draft(_request(attached("locked.exe", b"MZ" + b"\0" * 50), note="Please fax this."))
    classify_documents(draft)
    with pytest.raises(NothingToFax, match=r"locked\.exe: programs"):
        check_limits(draft)


def test_adapter_left_out_attachment_refuses_like_a_refused_file() -> None:
    """An attachment an adapter could not open (a damaged winmail.dat) counts as a left-out attachment."""
    request = FaxRequest(
        to=("+12025550123",),
        origin=ORIGIN,
        cover=Cover(subject="Quote"),
        left_out=(LeftOut(name="winmail.dat", reason="damaged", attachment=True),),
    )
    draft = _draft(request)
    classify_documents(draft)
    with pytest.raises(NothingToFax, match="winmail.dat: damaged"):
        check_limits(draft)


def test_parts_that_never_were_documents_do_not_stop_a_text_fax() -> None:
    """A text mail with only a signature logo set aside is still faxed as its cover."""
    request = FaxRequest(
        to=("+12025550123",),
        origin=ORIGIN,
        cover=Cover(subject="Call back"),
        left_out=(LeftOut(name="logo.png", reason="inline picture"),),
    )
    prepared = prepare(request, [DEST], PipelineConfig(now=NOW))
    assert prepared.documents == () and DEST.e164 in prepared.covers
