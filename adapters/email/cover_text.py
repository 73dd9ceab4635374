"""A mail body made fit for a cover page: HTML to text, quoted replies and signatures removed."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

__all__ = ["clean_body", "decode_text", "html_to_text", "unflow"]

# The cover shows about a page; anything past this is cut before the work of cleaning it.
MAX_NOTE_CHARS = 10_000
MAX_HTML_CHARS = 2_000_000

_BLOCK = frozenset(
    {
        *("address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset"),
        *("figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr"),
        *("main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th"),
        *("thead", "tr", "ul"),
    }
)
_SKIP = frozenset({"head", "script", "style", "title", "template", "noscript", "svg", "object"})
# Quoted earlier messages and signature blocks, as Gmail, Apple Mail, Thunderbird and Outlook mark them.
_DROP_CLASSES = ("gmail_signature", "moz-signature", "moz-cite-prefix")
_DROP_IDS = ("signature", "appendonsend", "divrplyfwdmsg", "ms-outlook-mobile-signature")

# A line that starts the quoted earlier message in a reply, in the forms common clients write.
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"on\b.{0,200}\bwrote:"  # Gmail, Apple Mail, Thunderbird (English)
    r"|am\b.{0,200}\bschrieb\b.{0,100}:"  # German
    r"|le\b.{0,200}\ba écrit\s?:"  # French
    r"|el\b.{0,200}\bescribió:"  # Spanish
    r"|-{2,}\s*original message\s*-{2,}"  # Outlook
    r"|-{2,}\s*ursprüngliche nachricht\s*-{2,}"
    r")\s*$",
    re.IGNORECASE,
)
_OUTLOOK_RULE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_LINE = re.compile(
    r"^\s*\*?(from|von|de|sent|gesendet|envoyé|date|datum|to|an|à|subject|betreff|objet)\*?\s*:", re.I
)
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my \w+|sent from (outlook|mail) for \w+|get outlook for \w+|von meinem \w+ gesendet)\b.*$",
    re.IGNORECASE,
)
_FORWARD_SUBJECT = re.compile(r"^\s*\*?(subject|betreff|objet)\*?\s*:\s*(fw|fwd|wg|tr|rv)\s*:", re.I)
_FORWARD_MARK = re.compile(r"forwarded message|weitergeleitete nachricht|message transféré", re.I)
_BLANK_RUN = re.compile(r"\n{3,}")
# Where a picture sat in the text version: "[image: logo.png]" (Gmail), "[cid:image001.png@...]" (Outlook).
_PICTURE_PLACEHOLDER = re.compile(r"^\s*\[(?:image: [^\]]*|cid:[^\]]*)\]\s*$", re.IGNORECASE)
_HTML_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes of a text part as text, whatever the declared charset says or gets wrong.

    An undeclared or US-ASCII part with 8-bit bytes is read as UTF-8 if it is valid UTF-8,
    else as Windows-1252; ISO-8859-1 is read as Windows-1252 (its superset, as browsers do);
    an unknown charset falls back the same way. Never raises.
    """
    name = (charset or "").strip().strip("\"'").lower()
    if name in ("", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "default"):
        name = "utf-8" if data.isascii() else ""
    elif name in ("iso-8859-1", "latin1", "latin-1", "iso8859-1", "iso_8859-1"):
        name = "windows-1252"
    if name:
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            if name not in ("utf-8", "utf8"):
                try:
                    return data.decode(name, errors="replace")
                except LookupError:
                    pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("windows-1252", errors="replace")


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join the soft line breaks of a format=flowed body (RFC 3676)."""
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        if line == "-- ":
            if carry:
                out.append(carry)
                carry = ""
            out.append(line)
            continue
        if line.startswith(" "):  # space-stuffed
            line = line[1:]
        if line.endswith(" ") and not line.startswith(">"):
            carry += line[:-1] if delsp else line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


class _TextMaker(HTMLParser):
    """Collects the visible text of an HTML body, leaving out quoted replies and signatures."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._stack: list[tuple[str, bool]] = []
        self._in_pre = 0
        self.cids: list[str] = []

    def _dropped(self, tag: str, attrs: dict[str, str]) -> bool:
        if tag in _SKIP or tag == "blockquote":
            return True
        classes = attrs.get("class", "").lower()
        ident = attrs.get("id", "").lower()
        return any(c in classes for c in _DROP_CLASSES) or any(ident.startswith(i) for i in _DROP_IDS)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag in ("br", "wbr", "img", "hr", "meta", "link", "input", "col", "area", "base", "source"):
            self.handle_startendtag(tag, attrs)
            return
        drop = self._skip_depth > 0 or self._dropped(tag, values)
        self._stack.append((tag, drop))
        if drop:
            self._skip_depth += 1
            return
        if tag == "pre":
            self._in_pre += 1
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("\n- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_depth:
            return
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        # Browsers forgive unclosed tags; unwind to the nearest matching open tag, if any.
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                for open_tag, dropped in reversed(self._stack[index:]):
                    if dropped:
                        self._skip_depth -= 1
                    elif open_tag == "pre":
                        self._in_pre -= 1
                del self._stack[index:]
                break
        else:
            return
        if not self._skip_depth and tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._in_pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
        self.parts.append(data)

    def text(self) -> str:
        lines = [line.strip(" ") for line in "".join(self.parts).replace("\xa0", " ").split("\n")]
        return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail body, without quoted replies, signatures, styles or scripts."""
    maker = _TextMaker()
    try:
        maker.feed(html[:MAX_HTML_CHARS])
        maker.close()
    except Exception:  # HTMLParser is lenient; this is a last guard for a hostile document
        return ""
    return maker.text()


def html_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> tag, if any."""
    found = _HTML_CHARSET.search(data[:4096])
    return found.group(1).decode("ascii") if found else None


def cid_references(html: str) -> set[str]:
    """The Content-IDs an HTML body shows inline (`src="cid:..."`), lower-cased."""
    from urllib.parse import unquote

    return {unquote(m).strip("<>").lower() for m in re.findall(r"cid:([^\"'\s>)]+)", html, re.IGNORECASE)}


def clean_body(text: str) -> str:
    """Body text for the cover: controls removed, quoted replies and signatures cut, blank runs squeezed."""
    text = text[: MAX_NOTE_CHARS * 4].replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    kept: list[str] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip() == "--":
            break  # the signature separator (RFC 3676 §4.3), and what people type for it
        if _starts_quote(lines, index):
            break
        if line.lstrip().startswith(">"):
            continue
        if _MOBILE_SIGNATURE.match(line) or _PICTURE_PLACEHOLDER.match(line):
            continue
        kept.append(line.rstrip())
    return _BLANK_RUN.sub("\n\n", "\n".join(kept)).strip()[:MAX_NOTE_CHARS]


def _starts_quote(lines: list[str], index: int) -> bool:
    """Whether the quoted earlier message begins at this line."""
    line = lines[index]
    if _ATTRIBUTION.match(line):
        return True
    # "On Mon, 3 Jun 2024 at 10:00, Ann Example <ann@example.com>" wrapped before "wrote:".
    if index + 1 < len(lines) and _ATTRIBUTION.match(f"{line} {lines[index + 1].strip()}"):
        return line.strip().lower().startswith(("on ", "am ", "le ", "el "))
    # Outlook: a rule or a bold "From:" line followed by Sent/Date and To/Subject header lines.
    start = index + 1 if _OUTLOOK_RULE.match(line) else index
    window = [ln for ln in lines[start : start + 8] if ln.strip()][:5]
    if not window or not re.match(r"^\s*\*?(from|von|de)\*?\s*:", window[0], re.I):
        return False
    if sum(1 for ln in window if _HEADER_LINE.match(ln)) < 3:
        return False
    # A forwarded message is the content, not a quote: keep it.
    before = next((ln for ln in reversed(lines[:index]) if ln.strip()), "")
    forwarded_subject = any(_FORWARD_SUBJECT.match(ln) for ln in window)
    return not (forwarded_subject or _FORWARD_MARK.search(before) or _FORWARD_MARK.search(line))
