"""Why a link was not fetched, in words that name the link (without its query, which may hold a key)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from bridge.errors import DocumentRefused

SHOWN_LENGTH = 120


class LinkRefused(DocumentRefused):
    """A link whose document cannot be faxed: the link as shown, the reason, and a metric outcome."""

    def __init__(self, link: str, reason: str, *, outcome: str) -> None:
        self.link = shown(link)
        self.why = reason
        self.outcome = outcome
        super().__init__(f"the link {self.link} {reason}")


def is_link(text: str) -> bool:
    """Whether a word is meant as a link (http or https), as opposed to a file name."""
    return text.strip().lower().startswith(("https://", "http://"))


def shown(link: str) -> str:
    """The link as it may be repeated to people and kept in a job's history: no password, no query."""
    text = "".join(c for c in link.strip() if c.isprintable() and not c.isspace())
    try:
        parts = urlsplit(text)
    except ValueError:
        return _cut(text.split("?", 1)[0])
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return _cut(bare + ("?…" if parts.query else ""))


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"
