"""Our PDF cover page and the plain-text cover for RingCentral templates (bridge.cover)."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from bridge.cover import cover_page_text, render_cover
from bridge.model import Cover

WHEN = datetime(2026, 11, 26, 16, 40, tzinfo=UTC)
LETTER = (612, 792)  # points


def render(cover: Cover, *, to: str = "+1 202-555-0123", pages: int = 3, when: datetime = WHEN) -> PdfReader:
    return PdfReader(io.BytesIO(render_cover(cover, to=to, pages=pages, when=when)))


def text_of(reader: PdfReader) -> str:
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def test_cover_is_exactly_one_letter_page() -> None:
    """A normal cover is a one-page PDF of US Letter size."""
    reader = render(Cover(sender="Ann", recipient="Bob", subject="Invoice", note="Please sign."))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == LETTER


def test_cover_shows_every_field() -> None:
    """Title, From, To (name and number), Date in UTC, Pages counting the cover, Subject and note appear."""
    text = text_of(
        render(
            Cover(
                sender="Ann Smith", recipient="Acme Billing", subject="Invoice 42", note="Please sign page 2."
            )
        )
    )
    for expected in (
        "FAX",
        "From",
        "Ann Smith",
        "To",
        "Acme Billing",
        "+1 202-555-0123",
        "Date",
        "26 November 2026 16:40 UTC",
        "Pages",
        "3 pages including this cover",
        "Subject",
        "Invoice 42",
        "Please sign page 2.",
    ):
        assert expected in text


def test_accented_latin_is_rendered_exactly() -> None:
    """Accented Latin letters survive as themselves, not transliterated."""
    text = text_of(
        render(
            Cover(
                sender="Jürgen Müller",
                recipient="Gmina Łódź",
                subject="Ærøskøbing",
                note="é ß ł ř ő ñ ç — Größe, Šťastný, Ñandú",
            )
        )
    )
    for word in ("Müller", "Łódź", "Ærøskøbing", "é ß ł ř ő ñ ç", "Größe", "Šťastný", "Ñandú"):
        assert word in text


def test_decomposed_accents_are_composed() -> None:
    """Accents typed as combining marks come out as the composed letters."""
    text = text_of(render(Cover(note=unicodedata.normalize("NFD", "Müller in Łódź"))))
    assert "Müller in Łódź" in text


def test_single_page_cover_says_so() -> None:
    """pages counts the cover itself: a text-only fax is '1 page (this cover only)'."""
    assert "1 page (this cover only)" in text_of(render(Cover(note="hi"), pages=1))


def test_pages_below_one_is_a_caller_error() -> None:
    """A cover is itself a page, so pages=0 is refused as a programming error."""
    with pytest.raises(ValueError, match="at least 1"):
        render_cover(Cover(), to="+1 202-555-0123", pages=0, when=WHEN)


def test_date_is_shown_in_utc() -> None:
    """An aware time in another zone is converted to UTC; a naive time is taken as UTC."""
    paris = WHEN.astimezone(timezone(timedelta(hours=1)))
    assert "26 November 2026 16:40 UTC" in text_of(render(Cover(), when=paris))
    assert "26 November 2026 16:40 UTC" in text_of(render(Cover(), when=WHEN.replace(tzinfo=None)))


def test_same_input_gives_the_same_bytes() -> None:
    """Rendering is deterministic: the creation date comes from `when`."""
    cover = Cover(sender="Ann", note="Same")
    first = render_cover(cover, to="+1 202-555-0123", pages=2, when=WHEN)
    assert first == render_cover(cover, to="+1 202-555-0123", pages=2, when=WHEN)
    assert first != render_cover(cover, to="+1 202-555-0123", pages=2, when=WHEN + timedelta(minutes=1))


@pytest.mark.parametrize(
    ("note", "legible"),
    [
        ("会议记录 你好世界", "NiHaoShiJie"),
        ("東京都 こんにちは", "konnichiha"),
        ("안녕하세요", "AnNyeongHaSeYo"),
        ("สวัสดีครับ", "swasdi"),
        ("नमस्ते दुनिया", "nmste"),
        ("Hello 😀👍🏽👩‍👩‍👧🇩🇪 world", "Hello"),
        ("مرحبا بالعالم", "م"),
        ("שלום עולם and English", "English"),
        ("mixed: abc שלום 123 مرحبا xyz", "mixed"),
    ],
)
def test_any_script_renders_on_one_page(note: str, legible: str) -> None:
    """CJK, Thai, Devanagari, emoji and right-to-left text render without error on one page."""
    cover = Cover(sender=note, recipient=note, subject=note, note=note)
    text = text_of(render(cover))
    assert legible in text
    assert "\ufffd" not in text


def test_scripts_the_font_lacks_are_transliterated_not_dropped() -> None:
    """Chinese, which DejaVu Sans cannot draw, becomes a legible Latin spelling."""
    text = text_of(render(Cover(recipient="北京办公室", note="请签字")))
    assert "BeiJingBanGongShi" in text
    assert "QingQianZi" in text


def test_right_to_left_letters_are_kept() -> None:
    """Hebrew and Arabic, which the font has, stay in their own script (order may be visual)."""
    text = text_of(render(Cover(note="שלום\nمرحبا")))
    assert set("שלום") <= set(text)
    assert set("مرحبا") <= set(text)


def test_control_characters_are_removed() -> None:
    """NULs, bells, escapes and bidi overrides are stripped; the text around them stays."""
    text = text_of(render(Cover(subject="A\x00B\x07C\x1b[31mD\u202e", note="x\r\ny\x0cz")))
    assert "ABC[31mD" in text
    assert "\x00" not in text
    assert "\x07" not in text
    assert "\u202e" not in text


def test_a_20000_character_note_stays_on_one_page_and_is_cut_with_an_ellipsis() -> None:
    """A huge note fills the page and ends with '…' instead of spilling onto a second page."""
    note = " ".join(f"word{i}" for i in range(3000))[:20_000]
    text = text_of(render(Cover(subject="Long", note=note)))
    assert "word0 word1" in text
    assert text.rstrip().endswith("…")
    assert "word2999" not in text


@pytest.mark.parametrize(
    "note",
    [
        "x" * 20_000,
        "\n" * 20_000,
        "a\n" * 10_000,
        "i" * 20_000,
        "W" * 20_000,
        "会" * 20_000,
        "e\u0301" * 10_000,
        "👍🏽" * 5_000,
        "https://example.com/" + "a" * 19_000,
    ],
)
def test_pathological_notes_stay_on_one_page(note: str) -> None:
    """Notes without spaces, of blank lines, narrow or wide letters never make a second page."""
    assert len(render(Cover(note=note)).pages) == 1


def test_long_header_fields_stay_on_one_page() -> None:
    """Very long sender, recipient and subject are cut to a few lines each, with '…'."""
    long = "Very Long Name " * 400
    text = text_of(render(Cover(sender=long, recipient=long, subject=long, note="the note survives")))
    assert "…" in text
    assert "the note survives" in text


def test_a_long_recipient_never_hides_the_number() -> None:
    """The recipient's name wraps to at most two lines; the number line is always printed."""
    text = text_of(render(Cover(recipient="Department of Extremely Long Names " * 50)))
    assert "+1 202-555-0123" in text


@settings(max_examples=30, deadline=None)
@given(
    sender=st.text(max_size=200),
    subject=st.text(max_size=200),
    note=st.text(max_size=3000),
    pages=st.integers(min_value=1, max_value=300),
)
def test_any_text_renders_one_page(sender: str, subject: str, note: str, pages: int) -> None:
    """Whatever text arrives (any code points, controls, surrogates), the cover is one page."""
    reader = PdfReader(
        io.BytesIO(
            render_cover(Cover(sender=sender, subject=subject, note=note), to="+1", pages=pages, when=WHEN)
        )
    )
    assert len(reader.pages) == 1


# --- cover_page_text --------------------------------------------------------------------------


def test_cover_page_text_joins_subject_and_note() -> None:
    """Subject, a blank line, then the note; empty parts leave no stray blank lines."""
    assert cover_page_text(Cover(subject="Invoice", note="Please sign.")) == "Invoice\n\nPlease sign."
    assert cover_page_text(Cover(note="  only the note  ")) == "only the note"
    assert cover_page_text(Cover(subject="only the subject")) == "only the subject"
    assert cover_page_text(Cover(sender="not included")) == ""


def test_cover_page_text_removes_control_characters() -> None:
    """NULs and other controls are removed, line breaks kept and normalised."""
    assert cover_page_text(Cover(note="a\x00b\r\nc\x07\td")) == "ab\nc d"


def test_cover_page_text_short_enough_is_unchanged() -> None:
    """Exactly 1024 characters is kept whole, without an ellipsis."""
    note = "a" * 1024
    assert cover_page_text(Cover(note=note)) == note


def test_cover_page_text_cuts_at_a_word_boundary() -> None:
    """Long text is cut to at most 1024 characters, after a whole word, ending with '…'."""
    note = " ".join(["lorem", "ipsum", "dolor", "sit", "amet"] * 300)
    text = cover_page_text(Cover(note=note))
    assert len(text) <= 1024
    assert text.endswith("…")
    head = text[:-1]
    assert note.startswith(head)
    assert note[len(head)] == " "
    assert len(head) > 1000


def test_cover_page_text_cuts_long_words_inside() -> None:
    """Text without spaces is cut at the limit rather than emptied."""
    text = cover_page_text(Cover(note="x" * 5000))
    assert text == "x" * 1023 + "…"


def test_cover_page_text_respects_a_smaller_limit() -> None:
    """The limit parameter is honoured."""
    text = cover_page_text(Cover(subject="Invoice number forty-two"), limit=12)
    assert text == "Invoice…"


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_cover_page_text_never_leaves_a_lone_combining_mark(offset: int) -> None:
    """Whatever the cut position, a letter is kept with all its marks or dropped with them."""
    cluster = "q\u0323\u0301"  # NFC order, and no precomposed form: three code points stay three
    note = "a" * offset + cluster * 600
    text = cover_page_text(Cover(note=note))
    head = text[:-1]
    assert text.endswith("…")
    assert len(text) <= 1024
    assert note.startswith(head)
    assert not unicodedata.combining(note[len(head)])
    assert not unicodedata.combining(head[0]) if head else True


def test_cover_page_text_keeps_emoji_sequences_whole() -> None:
    """Emoji with skin tones, ZWJ families and flags are never split; length counts UTF-16 units."""
    for unit in ("👍🏽", "👩\u200d👩\u200d👧", "🇩🇪", "🇺🇸🇩🇪🇫🇷"):
        note = "a " + unit * 800
        text = cover_page_text(Cover(note=note))
        head = text[:-1]
        assert len(text.encode("utf-16-le")) // 2 <= 1024
        assert note.startswith(head)
        assert (len(head) - 2) % len(unit) == 0


def test_cover_page_text_drops_a_leading_lone_mark() -> None:
    """A combining mark with no letter before it is removed."""
    assert cover_page_text(Cover(note="\u0301\u0323hello")) == "hello"
