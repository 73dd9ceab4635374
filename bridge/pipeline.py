"""The ordering pipeline: from a FaxRequest to what is sent (envelope, cover, documents).

Each step is a small named function over a Draft; STEPS lists them in order, so each can
be tested alone and the whole reads as the recipe it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from bridge.cover import cover_page_text
from bridge.errors import DocumentRefused, NothingToFax, TooLarge
from bridge.filetypes import extension_of, inspect_file
from bridge.model import (
    Attachment,
    Cover,
    CoverSheet,
    Destination,
    Document,
    Envelope,
    FaxRequest,
    LeftOut,
    PreparedFax,
    Verdict,
)

# RingCentral's documented limits for one fax.
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_PAGES = 200
MAX_NAME_LENGTH = 100
# RingCentral refuses names with these; path separators and controls would confuse every reader.
_UNSAFE_NAME_CHARS = re.compile(r"[&@#$%^*\\/:<>|?\"'\x00-\x1f\x7f]+")


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """The policy the pipeline applies; built from Settings by the service."""

    cover_mode: str = "generated"  # generated | none | provider:N
    now: datetime


@dataclass(kw_only=True)
class Draft:
    """The pipeline's working state.

    `verdicts` holds the judgement on each attachment, made beforehand in the worker pool; without
    them (tests of single steps) each file is judged here.
    """

    request: FaxRequest
    destinations: Sequence[Destination]
    config: PipelineConfig
    verdicts: Sequence[Verdict] | None = None
    documents: list[Document] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    covers: dict[str, CoverSheet] = field(default_factory=dict)
    envelope: Envelope = field(default_factory=Envelope)

    def verdict(self, index: int, attachment: Attachment) -> Verdict:
        if self.verdicts is not None:
            return self.verdicts[index]
        return inspect_file(str(attachment.content.path), attachment.name)


Step = Callable[[Draft], None]


def classify_documents(draft: Draft) -> None:
    """Take each attachment's verdict; keep the faxable ones, note the rest with why."""
    draft.left_out.extend(draft.request.left_out)
    for index, attachment in enumerate(draft.request.attachments):
        verdict = draft.verdict(index, attachment)
        if not verdict.faxable:
            name = attachment.name or f"attachment {index + 1}"
            if draft.request.strict:
                raise DocumentRefused(f"{name}: {verdict.refusal}")
            draft.left_out.append(LeftOut(name=name, reason=verdict.refusal, attachment=True))
            continue
        draft.documents.append(
            Document(
                name=_raw_name(attachment, index + 1),
                content_type=verdict.content_type,
                pages=verdict.pages,
                content=attachment.content,
            )
        )


def clean_names(draft: Draft) -> None:
    """Give every document a safe, unique name whose extension matches its real type."""
    seen: set[str] = set()
    draft.documents = [
        replace(doc, name=_unique(clean_filename(doc.name, doc.content_type), seen))
        for doc in draft.documents
    ]


def check_limits(draft: Draft) -> None:
    """Refuse what cannot be faxed: attachments that were all left out, nothing at all, over 50 MB or 200 pages.

    A request whose every attachment was left out is refused whatever its text says: faxing the
    cover alone would look like success to someone who meant to send a document.
    """
    if not draft.documents:
        reasons = "; ".join(f"{item.name}: {item.reason}" for item in draft.left_out)
        attached = any(item.attachment for item in draft.left_out)
        if attached or not draft.request.cover.has_text:
            raise NothingToFax(
                "nothing to fax" + (f" ({reasons})" if reasons else ": no document and no text")
            )
    total = sum(d.content.size for d in draft.documents)
    if total > MAX_TOTAL_BYTES:
        raise TooLarge(f"the documents add up to {total / 1048576:.1f} MB; RingCentral takes at most 50 MB")
    pages = sum(d.pages for d in draft.documents) + (0 if draft.config.cover_mode == "none" else 1)
    if pages > MAX_PAGES:
        raise TooLarge(f"the fax would have {pages} pages; RingCentral sends at most {MAX_PAGES}")


def build_cover(draft: Draft) -> None:
    """Make the cover the settings ask for: ours as a first document, RingCentral's template, or none."""
    mode = draft.config.cover_mode
    cover = draft.request.cover
    # Without documents the text still needs a page to be printed on, so our cover is made anyway.
    if mode.startswith("provider:") and draft.documents:
        index = int(mode.split(":", 1)[1])
        draft.envelope = Envelope(cover_index=index, cover_page_text=cover_page_text(cover) or None)
        return
    if mode == "none" and draft.documents:
        draft.envelope = Envelope(cover_index=0)
        return
    # Only what the cover says is kept now (one page, its count known); it is drawn when sent.
    draft.envelope = Envelope(cover_index=0)
    doc_pages = sum(d.pages for d in draft.documents)
    for destination in draft.destinations:
        draft.covers[destination.e164] = CoverSheet(
            cover=_cover_for(cover, destination),
            to=destination.display,
            pages=doc_pages + 1,
            when=draft.config.now,
        )


STEPS: tuple[Step, ...] = (classify_documents, clean_names, check_limits, build_cover)


def prepare(
    request: FaxRequest,
    destinations: Sequence[Destination],
    config: PipelineConfig,
    verdicts: Sequence[Verdict] | None = None,
) -> PreparedFax:
    """Run every step and return the fax in sending order; raise RequestRejected with the reason."""
    draft = Draft(request=request, destinations=destinations, config=config, verdicts=verdicts)
    for step in STEPS:
        step(draft)
    return PreparedFax(
        envelope=draft.envelope,
        documents=tuple(draft.documents),
        covers=MappingProxyType(draft.covers),
        left_out=tuple(draft.left_out),
    )


def clean_filename(name: str, content_type: str) -> str:
    """A name RingCentral accepts: no path, none of & @ # $ % ^ *, the extension of the real type."""
    from bridge.filetypes import KINDS

    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME_CHARS.sub("_", base).strip(" ._") or "document"
    kind = next(k for k in KINDS.values() if k.content_type == content_type)
    if extension_of(base) not in kind.extensions:
        base = f"{base}.{kind.extension}"
    stem, _, ext = base.rpartition(".")
    stem = stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip(" ._") or "document"
    return f"{stem}.{ext}"


def _raw_name(attachment: Attachment, index: int) -> str:
    return attachment.name or f"document-{index}"


def _unique(name: str, seen: set[str]) -> str:
    stem, _, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate.lower() in seen:
        n += 1
        candidate = f"{stem}-{n}.{ext}"
    seen.add(candidate.lower())
    return candidate


def _cover_for(cover: Cover, destination: Destination) -> Cover:
    return Cover(
        sender=cover.sender,
        recipient=cover.recipient or destination.display,
        subject=cover.subject,
        note=cover.note,
    )
