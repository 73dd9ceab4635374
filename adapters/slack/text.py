"""Reading what people type in Slack: a fax number among words, `<tel:...>` tokens, a cover note."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from bridge.errors import NumberRefused

# Slack rewrites phone numbers in message text into <tel:+12025550123|+1 202 555 0123>.
_TEL = re.compile(r"<tel:([^<>|]+)(?:\|[^<>]*)?>", re.IGNORECASE)
# A run of digits with the punctuation people put between groups; at least 7 digits' worth.
_RUN = re.compile(r"(?<![\w+])\+?\(?\d[\d \t().\-]{5,}\d")
_WORD = re.compile(r"\S+")
_TOKEN = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
# Words around a number that say nothing on a cover page: "please fax this to ...".
_GAP = r"[\s\-\u2013\u2014:,.;!]*"
_FILLER_WORDS = "please|pls|fax|faxes|send|sending|this|these|those|them|it|to|the|file|files|number"
_FILLER = re.compile(rf"^{_GAP}(?:(?:{_FILLER_WORDS})\b{_GAP})*", re.IGNORECASE)

# A link Slack formatted (<https://…> or <https://…|label>), or one typed into a form's plain text.
_LINK_TOKEN = re.compile(r"<(https?://[^<>|\s]+)(?:\|[^<>]*)?>", re.IGNORECASE)
_BARE_LINK = re.compile(r"(?<![\w<])https?://[^\s<>|\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"

Check = Callable[[str], object]


@dataclass(frozen=True, kw_only=True)
class Found:
    """The number found in a text (as written, "" for none), why it is unusable, and the words around it."""

    number: str = ""
    refusal: str = ""
    rest: str = ""


def links_in(text: str) -> tuple[list[str], str]:
    """The http(s) links written in a message or a note, in order, and the text left without them.

    Slack writes a link as `<url|label>` with `&`, `<` and `>` escaped; a form's note holds it bare,
    where the sentence's own punctuation after it is not part of it.
    """
    found: list[tuple[int, str]] = []

    def token(match: re.Match[str]) -> str:
        found.append((match.start(), html.unescape(match.group(1))))
        return " " * len(match.group(0))  # kept in place, so positions still tell the order

    text = _LINK_TOKEN.sub(token, text)

    def bare(match: re.Match[str]) -> str:
        link = match.group(0).rstrip(_TRAILING)
        found.append((match.start(), link))
        return " " * len(link) + match.group(0)[len(link) :]

    rest = _BARE_LINK.sub(bare, text)
    if not found:
        return [], text
    # Where a link was, its blanks go; the note's own lines stay as written.
    lines = (" ".join(line.split()) for line in rest.splitlines())
    return [link for _, link in sorted(found)], "\n".join(lines).strip()


def find_number(text: str, check: Check) -> Found:
    """The first fax number in `text` that `check` accepts (`check` raises NumberRefused).

    Slack's tel tokens come first; then runs of digits, longest reading first, so that
    "+1 202 555 0123 3 pages" yields the number and leaves "3 pages". With no usable number
    the first candidate is returned with the reason it was refused.
    """
    text = plain(text, keep_tel=True)
    first: Found | None = None
    for match in _TEL.finditer(text):
        number = match.group(1).strip()
        found = _try(check, number, text, match.start(), match.end())
        if not found.refusal:
            return found
        first = first or found
    for match in _RUN.finditer(text):
        words = list(_WORD.finditer(match.group(0)))
        for count in range(len(words), 0, -1):
            end = match.start() + words[count - 1].end()
            found = _try(check, text[match.start() : end], text, match.start(), end)
            if not found.refusal:
                return found
            if count == len(words):
                first = first or found
    return first or Found(rest=text.strip())


def _try(check: Check, number: str, text: str, start: int, end: int) -> Found:
    rest = f"{text[:start]} {text[end:]}".strip()
    try:
        check(number)
    except NumberRefused as refused:
        return Found(number=number, refusal=refused.reason, rest=rest)
    return Found(number=number, rest=rest)


def plain(text: str, *, keep_tel: bool = False) -> str:
    """Slack message markup as plain words: links become their labels, mentions are dropped."""

    def token(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if keep_tel and target.lower().startswith("tel:"):
            return match.group(0)
        if target.startswith(("@", "!")):
            return ""
        if target.startswith("#"):
            return f"#{label}" if label else ""
        if label:
            return label
        return target.split(":", 1)[1] if target.startswith(("mailto:", "tel:")) else target

    text = _TOKEN.sub(token, text)
    return " ".join((text if keep_tel else html.unescape(text)).split())


def note_from(rest: str) -> str:
    """The words left once the number is taken out, minus "please fax this to": the cover note."""
    return _FILLER.sub("", plain(rest)).strip()
