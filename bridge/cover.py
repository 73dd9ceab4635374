"""Our one-page PDF fax cover, and the plain-text cover for RingCentral's templates."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from anyascii import anyascii
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, XPos, YPos

from bridge.model import Cover, CoverSheet

__all__ = ["COVER_PAGE_TEXT_LIMIT", "cover_page_text", "render_cover", "render_sheet"]

# RingCentral's documented maximum for coverPageText.
COVER_PAGE_TEXT_LIMIT = 1024

_FONT_DIR = Path(__file__).parent / "fonts"
_REGULAR = _FONT_DIR / "DejaVuSans.ttf"
_BOLD = _FONT_DIR / "DejaVuSans-Bold.ttf"
_FAMILY = "DejaVu"
_ELLIPSIS = "…"
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Layout in millimetres on US Letter. Sizes are generous: a fax is 200 dpi at best and often
# photocopied afterwards, so nothing below 11 pt.
_MARGIN = 20.0
_LABEL_WIDTH = 30.0
_TITLE_SIZE = 56
_LABEL_SIZE = 12
_VALUE_SIZE = 13
_VALUE_LINE = 6.5
_NOTE_SIZE = 12
_NOTE_LINE = 6.0
# Field values are names and short subjects; longer ones are cut rather than pushing the note off.
_VALUE_MAX_LINES = 2
# Upper bound on the characters a page of note can show; longer notes are cut before layout so a
# 20,000-character paste costs no more than a full page.
_NOTE_MAX_CHARS = 8000
_FIELD_MAX_CHARS = 600

_ZWJ = "\u200d"
_BLANK_LINES = re.compile(r"\n{3,}")


def render_cover(cover: Cover, *, to: str, pages: int, when: datetime) -> bytes:
    """Render the cover as exactly one Letter page of PDF.

    `to` is the number as shown to people (Destination.display); `pages` is the whole fax,
    counting this cover (a cover before two document pages says "3 pages including this
    cover"); `when` is shown in UTC (naive datetimes are taken as UTC) and is also the PDF's
    creation date, so the same input gives the same bytes. Text the fonts cannot draw is
    transliterated; right-to-left text is put in visual order but Arabic letters are not
    joined (no shaping engine), so it reads as separate letters.
    """
    if pages < 1:
        raise ValueError(f"pages counts the cover too, so it is at least 1, not {pages}")
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    pdf = FPDF(orientation="P", unit="mm", format="Letter")
    pdf.set_creation_date(when)
    pdf.set_creator("faxbridge")
    pdf.set_title("Fax cover")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    # Every line is placed by hand; a page break would break the "exactly one page" promise.
    pdf.set_auto_page_break(False)
    pdf.add_font(_FAMILY, "", str(_REGULAR))
    pdf.add_font(_FAMILY, "B", str(_BOLD))
    pdf.add_page()
    width = pdf.w - 2 * _MARGIN

    pdf.set_font(_FAMILY, "B", _TITLE_SIZE)
    pdf.cell(width, 24, "FAX", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _rule(pdf)
    pdf.ln(4)

    def clean(value: str) -> str:
        return _printable(value[:_FIELD_MAX_CHARS], keep_newlines=False).strip()

    # (label, [(text, most lines)]): the recipient's name may wrap, but the number always shows.
    fields: list[tuple[str, list[tuple[str, int]]]] = [
        ("From", [(clean(cover.sender), _VALUE_MAX_LINES)]),
        ("To", [(clean(cover.recipient), _VALUE_MAX_LINES), (clean(to), 1)]),
        ("Date", [(_format_date(when), 1)]),
        ("Pages", [(_format_pages(pages), 1)]),
        ("Subject", [(clean(cover.subject), _VALUE_MAX_LINES)]),
    ]
    for label, parts in fields:
        if any(text for text, _ in parts):
            _field(pdf, label, parts)

    pdf.ln(3)
    _rule(pdf)
    pdf.ln(5)

    note = _printable(cover.note, keep_newlines=True).strip()
    if note:
        pdf.set_font(_FAMILY, "", _NOTE_SIZE)
        room = int((pdf.h - _MARGIN - pdf.get_y()) // _NOTE_LINE)
        for line in _fit(pdf, note, width, max(room, 0)):
            _line(pdf, line, width, _NOTE_LINE)

    data = bytes(pdf.output())
    if pdf.pages_count != 1:  # a layout bug must not send a two-page "cover"
        raise RuntimeError(f"cover came out as {pdf.pages_count} pages")
    return data


def render_sheet(sheet: CoverSheet) -> bytes:
    """The cover a sheet describes (run in the worker pool when its fax is sent)."""
    return render_cover(sheet.cover, to=sheet.to, pages=sheet.pages, when=sheet.when)


def cover_page_text(cover: Cover, limit: int = COVER_PAGE_TEXT_LIMIT) -> str:
    """Subject and note as plain text for a RingCentral template cover, at most `limit` characters.

    Longer text is cut at a word boundary when one is near, never inside a character cluster
    (base letter with its combining marks, emoji sequence, flag), and ends with "…". Length is
    counted in UTF-16 code units, which is never more than code points, so the limit holds
    however the API counts.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    parts = (_plain(cover.subject), _plain(cover.note))
    return _shorten("\n\n".join(p for p in parts if p), limit)


# --- text clean-up ----------------------------------------------------------------------------


@functools.cache
def _coverage() -> frozenset[int]:
    """Code points both cover fonts can draw; read once per process, on first use."""
    maps = []
    for path in (_REGULAR, _BOLD):
        font = TTFont(str(path), lazy=True)
        try:
            maps.append(frozenset(font.getBestCmap() or {}))
        finally:
            font.close()
    return maps[0] & maps[1]


def _printable(text: str, *, keep_newlines: bool) -> str:
    """Text the fonts can draw: controls removed, other scripts transliterated, emoji dropped."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    covered = _coverage()
    out: list[str] = []
    foreign: list[str] = []

    def flush() -> None:
        if foreign:
            # Per run rather than per character: anyascii spells CJK runs as "NiHaoShiJie".
            out.append(anyascii("".join(foreign)))
            foreign.clear()

    for ch in text:
        if ch == "\n":
            flush()
            out.append("\n" if keep_newlines else " ")
            continue
        if ch in "\t\v\f":
            flush()
            out.append(" ")
            continue
        category = unicodedata.category(ch)
        if category[0] == "C":
            # Controls, NULs, bidi and joiner format marks, lone surrogates, private use.
            continue
        if foreign and category[0] == "M":
            # Thai vowels and Devanagari signs are marks on a foreign letter: they belong to its spelling.
            foreign.append(ch)
        elif ord(ch) in covered:
            flush()
            out.append(ch)
        elif category in ("So", "Sk") or category[0] == "M":
            # Emoji and their modifiers have no legible spelling; a mark without its glyph is noise.
            continue
        else:
            foreign.append(ch)
    flush()
    result = "".join(out)
    return _BLANK_LINES.sub("\n\n", result) if keep_newlines else result


def _plain(text: str) -> str:
    """Plain text for the API: NFC, no control characters, no lone leading combining marks."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = []
    for ch in text:
        if ch in "\t\v\f":
            kept.append(" ")
        elif ch == "\n" or ch == _ZWJ or unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn"):
            kept.append(ch)
    cleaned = _BLANK_LINES.sub("\n\n", "".join(kept)).strip()
    start = 0
    while start < len(cleaned) and unicodedata.category(cleaned[start])[0] == "M":
        start += 1
    return cleaned[start:].strip()


# --- cutting ----------------------------------------------------------------------------------


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _continues_cluster(text: str, index: int) -> bool:
    """Whether text[index] belongs to the character before it, so no cut may fall before it."""
    if index <= 0 or index >= len(text):
        return False
    ch, before = text[index], text[index - 1]
    code = ord(ch)
    if unicodedata.category(ch)[0] == "M":  # combining marks, including variation selectors
        return True
    if ch == _ZWJ or before == _ZWJ:  # emoji ZWJ sequences
        return True
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, flag tags
        return True
    if _is_regional_indicator(ch) and _is_regional_indicator(before):
        # Flags are pairs of regional indicators: the cut may not fall inside a pair.
        run = 0
        while index - 1 - run >= 0 and _is_regional_indicator(text[index - 1 - run]):
            run += 1
        return run % 2 == 1
    return False


def _cluster_boundary(text: str, end: int) -> int:
    """The largest cluster boundary at or before `end`."""
    while end > 0 and _continues_cluster(text, end):
        end -= 1
    return end


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _shorten(text: str, limit: int) -> str:
    """Cut to at most `limit` UTF-16 units, cleanly, with "…" when anything was cut."""
    if _utf16_units(text) <= limit:
        return text
    budget = limit - _utf16_units(_ELLIPSIS)
    end = used = 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > budget:
            break
        used += size
        end += 1
    return _cut(text, end) + _ELLIPSIS


def _cut(text: str, end: int) -> str:
    """text[:end] cut back to a cluster boundary, and to a word boundary when one is near."""
    end = _cluster_boundary(text, end)
    if end < len(text) and not text[end].isspace():
        space = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
        # Back to the last space only if little is lost; long words (URLs, text in scripts
        # without spaces) are cut inside instead of emptying the line.
        if space > 0 and end - space <= min(40, max(10, end // 3)):
            end = space
    return text[:end].rstrip()


# --- layout -----------------------------------------------------------------------------------


def _rule(pdf: FPDF) -> None:
    pdf.set_line_width(0.6)
    pdf.line(_MARGIN, pdf.get_y(), pdf.w - _MARGIN, pdf.get_y())


def _field(pdf: FPDF, label: str, parts: list[tuple[str, int]]) -> None:
    """A bold label on the left and its value parts, each wrapped to at most its number of lines."""
    width = pdf.w - 2 * _MARGIN - _LABEL_WIDTH
    top = pdf.get_y()
    pdf.set_font(_FAMILY, "B", _LABEL_SIZE)
    pdf.cell(_LABEL_WIDTH, _VALUE_LINE, label)
    pdf.set_font(_FAMILY, "", _VALUE_SIZE)
    lines = [line for text, max_lines in parts for line in _fit(pdf, text, width, max_lines)]
    pdf.set_y(top)
    for line in lines:
        pdf.set_x(_MARGIN + _LABEL_WIDTH)
        _line(pdf, line, width, _VALUE_LINE)
    pdf.ln(2)


def _fit(pdf: FPDF, text: str, width: float, max_lines: int) -> list[str]:
    """Wrap text in the current font; keep at most `max_lines`, the last one ending in "…" if cut."""
    if max_lines <= 0 or not text:
        return []
    cut = len(text) > _NOTE_MAX_CHARS
    text = text[:_NOTE_MAX_CHARS]
    lines = cast(
        list[str],
        pdf.multi_cell(width, 1, text, dry_run=True, output=MethodReturnValue.LINES, align=Align.L),
    )
    if len(lines) <= max_lines and not cut:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    # A cut line: shorten until the ellipsis fits on it too.
    end = len(last)
    while end > 0 and pdf.get_string_width(_cut(last, end) + _ELLIPSIS) > width - 2 * pdf.c_margin:
        end -= 1
    kept[-1] = _cut(last, end) + _ELLIPSIS
    return kept


def _line(pdf: FPDF, text: str, width: float, height: float) -> None:
    """One already-wrapped line, in visual order; right-to-left paragraphs are right-aligned."""
    visual, rtl = _visual_order(text)
    pdf.cell(width, height, visual, align=Align.R if rtl else Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _visual_order(line: str) -> tuple[str, bool]:
    """Reorder a line holding right-to-left letters for display (Unicode bidi, rules L1–L2)."""
    if not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in line):
        return line, False
    try:
        from fpdf.bidi import BidiParagraph, auto_detect_base_direction
        from fpdf.enums import TextDirection

        direction = auto_detect_base_direction(line)
        characters = BidiParagraph(text=line, base_direction=direction).reorder_resolved_levels()
        return "".join(c.character for c in characters), direction == TextDirection.RTL
    except Exception:  # fpdf2's bidi module is an implementation detail; logical order still reads
        return line, False


def _format_date(when: datetime) -> str:
    # Month names spelt out here: strftime's %B follows the process locale.
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year} {when:%H:%M} UTC"


def _format_pages(pages: int) -> str:
    return "1 page (this cover only)" if pages == 1 else f"{pages} pages including this cover"
