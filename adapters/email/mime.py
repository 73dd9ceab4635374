"""From a raw mail to what a fax needs: documents in the order attached, what was left out, the cover text.

The mail is read from a file by `adapters.email.stream` (bounded, each part decoded straight to
a file); this module walks its tree. Documents are found at any depth (mixed, related,
alternative, signed, forwarded messages, Outlook's winmail.dat) and passed on as the sender
attached them; the core judges their type by their bytes. Parts that are not documents at all
are left out here, each with the reason in plain words: pictures shown inside the text (`cid:`),
calendar invitations, contact cards, signatures, encrypted parts, delivery reports and empty
parts. It runs in the worker pool (`read_mail`), never on the event loop.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from adapters.email.cover_text import (
    cid_references,
    clean_body,
    decode_text,
    html_charset,
    html_to_text,
    unflow,
)
from adapters.email.headers import (
    address,
    clean_name,
    content_id,
    content_type,
    disposition,
    filename,
    first_message_id,
    header,
    is_automatic,
    message_ids,
    to_names,
)
from adapters.email.stream import Limits, MailTooLarge, Part, UnreadableMail, read_tree
from adapters.email.tnef import is_tnef, unpack_tnef
from bridge.filetypes import inspect_within
from bridge.judging import SECONDS_PER_DOCUMENT
from bridge.model import Attachment, LeftOut
from bridge.spooling import Scratch

__all__ = ["Limits", "MailTooLarge", "ParsedMail", "UnreadableMail", "parse_mail", "read_mail"]

MAX_FORWARDED_TEXT = 200_000
# A bigger part is not checked for emptiness here (that would read it); the core judges its bytes.
_EMPTY_CHECK_BYTES = 65_536
# The cover shows about a page: more text than this is never read from a body.
_TEXT_BYTES = 4 * 1024 * 1024
_CALENDAR = frozenset({"text/calendar", "application/ics", "text/x-vcalendar", "application/x-ical"})
_VCARD = frozenset(
    {"text/vcard", "text/x-vcard", "text/directory", "application/vcard", "application/x-vcard"}
)
_SIGNATURE = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)
_ENCRYPTED = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime", "application/pgp-encrypted"})
_REPORTS = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "text/rfc822-headers",
        "message/feedback-report",
    }
)
_UNREADABLE = frozenset({"message/partial", "message/external-body"})
_FORWARDED = frozenset({"message/rfc822", "message/global"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})

REASON_INLINE = "a picture inside the message text (such as a signature logo); attach it as a file to fax it"
REASON_CALENDAR = "calendar invitations are not faxed"
REASON_VCARD = "contact cards are not faxed"
REASON_SIGNATURE = "a digital signature, not a document"
REASON_ENCRYPTED = "encrypted content cannot be read"
REASON_REPORT = "a delivery report, not a document"
REASON_UNREADABLE = "a part kept elsewhere or split across several mails cannot be faxed"
REASON_EMPTY = "the attachment is empty"
REASON_DEEP = "nested too deeply inside the mail to be read"
REASON_BROKEN = "the mail's parts could not be found (its structure is broken)"


@dataclass(frozen=True, kw_only=True)
class ParsedMail:
    """What the adapter needs from one mail.

    `content_sha256` is the hash of what the mail says and carries (subject, text, each file's
    name and bytes), not of its encoding: the same mail delivered again has the same one,
    whatever an MTA added to its headers or however a client re-encoded it (new MIME boundaries).
    """

    attachments: tuple[Attachment, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    note: str = ""
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to_names: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""
    references: str = ""
    automatic: bool = False
    content_sha256: str = ""


@dataclass
class _Item:
    attachment: Attachment | None = None
    left_out: LeftOut | None = None
    cid: str = ""


class _Walker:
    """One depth-first pass over a tree of parts, collecting items in order and the body text."""

    def __init__(self, scratch: Scratch, limits: Limits) -> None:
        self.scratch = scratch
        self.limits = limits
        self.items: list[_Item] = []
        self.plain: list[str] = []
        self.html: list[str] = []
        self.fallback_text: list[str] = []  # a winmail.dat body, used only when the mail has none
        self.cids: set[str] = set()

    # -- results -----------------------------------------------------------------------------

    def attachments(self) -> list[Attachment]:
        return [i.attachment for i in self.items if i.attachment and i.cid not in self.cids]

    def left_out(self) -> list[LeftOut]:
        out: list[LeftOut] = []
        for item in self.items:
            if item.left_out:
                out.append(item.left_out)
            elif item.attachment and item.cid and item.cid in self.cids:
                out.append(LeftOut(name=item.attachment.name or "inline picture", reason=REASON_INLINE))
        return out

    def text(self) -> str:
        if any(t.strip() for t in self.plain):
            return "\n\n".join(t.strip() for t in self.plain if t.strip())
        html = "\n\n".join(html_to_text(h) for h in self.html)
        return html.strip() or "\n\n".join(self.fallback_text).strip()

    # -- the walk ----------------------------------------------------------------------------

    def walk(self, part: Part, *, in_body: bool = True, in_related: bool = False) -> None:
        headers = part.headers
        ctype = content_type(headers)
        if part.depth > self.limits.max_depth:
            self._leave(filename(headers) or ctype, REASON_DEEP, attachment=True)
            return
        if part.broken:
            self._leave(filename(headers) or ctype, REASON_BROKEN, attachment=True)
        elif ctype in _FORWARDED:
            self._forwarded(part)
        elif part.is_multipart():
            self._multipart(part, ctype, in_body=in_body, in_related=in_related)
        else:
            self._leaf(part, ctype, in_body=in_body, in_related=in_related)

    def _multipart(self, part: Part, ctype: str, *, in_body: bool, in_related: bool) -> None:
        children = part.children or []
        if ctype == "multipart/encrypted":
            self._leave("encrypted message", REASON_ENCRYPTED, attachment=True)
            return
        if ctype == "multipart/alternative":
            chosen = _preferred(children)
            for child in children:
                self.walk(child, in_body=in_body and child is chosen, in_related=in_related)
            return
        related = in_related or ctype == "multipart/related"
        for child in children:
            self.walk(child, in_body=in_body, in_related=related)

    def _leaf(self, part: Part, ctype: str, *, in_body: bool, in_related: bool) -> None:
        headers = part.headers
        name = filename(headers)
        lowered = name.lower()
        how = disposition(headers)
        if ctype in _CALENDAR or lowered.endswith((".ics", ".vcs")):
            self._leave(name or "calendar invitation", REASON_CALENDAR)
        elif ctype in _VCARD or lowered.endswith(".vcf"):
            self._leave(name or "contact card", REASON_VCARD)
        elif ctype in _SIGNATURE or lowered in ("smime.p7s", "signature.asc") or lowered.endswith(".p7s"):
            self._leave(name or "digital signature", REASON_SIGNATURE)
        elif ctype in _ENCRYPTED or lowered.endswith(".p7m"):
            self._leave(name or "encrypted part", REASON_ENCRYPTED, attachment=True)
        elif ctype in _REPORTS:
            self._leave(name or "delivery report", REASON_REPORT)
        elif ctype in _UNREADABLE:
            self._leave(name or ctype, REASON_UNREADABLE, attachment=True)
        elif ctype in _BODY_TYPES and not name and how != "attachment":
            self._body(part, ctype, in_body=in_body)
        elif ctype.startswith("text/") and not name and how != "attachment" and not in_body:
            return  # another rendering of the text (text/enriched, AMP), shown instead of the chosen one
        else:
            self._document(part, ctype, name, how, in_related=in_related)

    def _body(self, part: Part, ctype: str, *, in_body: bool) -> None:
        data = _text_bytes(part)
        if ctype == "text/html":
            text = decode_text(data, _charset(part) or html_charset(data))
            self.cids |= cid_references(text)
            if in_body:
                self.html.append(text)
        elif in_body:
            text = decode_text(data, _charset(part))
            if str(_param(part, "format")).lower() == "flowed":
                text = unflow(text.replace("\r\n", "\n"), delsp=str(_param(part, "delsp")).lower() == "yes")
            self.plain.append(text)

    def _document(self, part: Part, ctype: str, name: str, how: str, *, in_related: bool) -> None:
        head = _head(part)
        if part.size <= _EMPTY_CHECK_BYTES and not head.strip(b"\x00 \t\r\n"):
            # Nothing in it could have been meant for the fax: the mail's text still goes.
            self._leave(name or ctype, REASON_EMPTY)
            return
        if is_tnef(ctype, name, head):
            unpacked = unpack_tnef(part.data(), name or "winmail.dat", self.scratch.keep)
            self.items.extend(_Item(attachment=a) for a in unpacked.attachments)
            self.items.extend(_Item(left_out=item) for item in unpacked.left_out)
            if unpacked.body:
                self.fallback_text.append(unpacked.body)
            elif unpacked.html:
                self.fallback_text.append(html_to_text(unpacked.html))
            return
        cid = content_id(part.headers)
        if ctype.startswith("image/") and cid and in_related and how != "attachment":
            self._leave(name or "inline picture", REASON_INLINE)
            return
        content = part.content(self.scratch.keep)
        self.items.append(
            _Item(attachment=Attachment(name=name, content=content, declared_type=ctype), cid=cid)
        )

    def _forwarded(self, part: Part) -> None:
        inner = part.children[0] if part.children else None
        if inner is None:
            self._leave(
                filename(part.headers) or "forwarded message",
                "the forwarded message cannot be read",
                attachment=True,
            )
            return
        sub = _Walker(self.scratch, self.limits)
        sub.walk(inner)
        documents = sub.attachments()
        self.items.extend(_Item(attachment=a) for a in documents)
        self.items.extend(_Item(left_out=item) for item in sub.left_out())
        if documents:
            return
        # A forwarded mail without attachments is itself the content: fax its text, headed as a mail.
        text = sub.text()[:MAX_FORWARDED_TEXT]
        if text.strip():
            headers = inner.display()
            subject = header(headers, "subject")
            heading = [
                f"{label}: {header(headers, key)}" for label, key in _FORWARD_HEADINGS if header(headers, key)
            ]
            data = ("Forwarded message\n" + "\n".join(heading) + "\n\n" + text + "\n").encode("utf-8")
            self.items.append(
                _Item(
                    attachment=Attachment(
                        name=f"{subject or 'forwarded message'}.txt",
                        content=self.scratch.keep(data),
                        declared_type="text/plain",
                    )
                )
            )

    def _leave(self, name: str, reason: str, *, attachment: bool = False) -> None:
        self.items.append(
            _Item(
                left_out=LeftOut(
                    name=clean_name(name) or "a part of the mail", reason=reason, attachment=attachment
                )
            )
        )


_FORWARD_HEADINGS = (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to"))


def read_mail(source: str | bytes, folder: str, limits: Limits) -> ParsedMail:
    """Read one raw mail (a file's path, or a small mail's bytes), decoding its parts into `folder`.

    Run in the worker pool. Raises MailTooLarge or UnreadableMail with the reason, never anything
    else on bad input.
    """
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    if size > limits.max_bytes:
        raise MailTooLarge(f"the mail is larger than {limits.max_bytes} bytes")
    scratch = Scratch(Path(folder).parent, Path(folder))
    scratch.make()
    try:
        with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as handle:
            tree = read_tree(handle, limits, lambda: scratch.writer("part"))
    except (MailTooLarge, UnreadableMail):
        raise
    except RecursionError as exc:
        raise UnreadableMail("the mail is nested too deeply to be read") from exc
    except Exception as exc:
        raise UnreadableMail("the mail's structure cannot be read") from exc
    walker = _Walker(scratch, limits)
    try:
        walker.walk(tree.root)
    except RecursionError as exc:
        raise UnreadableMail("the mail is nested too deeply to be read") from exc
    if tree.truncated:
        walker._leave(
            "the rest of the mail", f"the mail has more than {limits.max_parts} parts; the rest were not read"
        )
    # Judged here, where the parts were just decoded: no second trip through the pool per mail.
    attachments = [
        replace(a, verdict=inspect_within(str(a.content.path), a.name, SECONDS_PER_DOCUMENT))
        for a in walker.attachments()
    ]
    message = tree.root.display()
    from_name, from_address = address(message, "from")
    subject, note, left_out = header(message, "subject"), clean_body(walker.text()), walker.left_out()
    return ParsedMail(
        attachments=tuple(attachments),
        left_out=tuple(left_out),
        note=note,
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        to_names=to_names(message),
        message_id=first_message_id(header(message, "message-id")),
        references=" ".join(message_ids(header(message, "references"))[-20:]),
        automatic=is_automatic(message),
        content_sha256=_content_hash(subject, note, attachments, left_out),
    )


def parse_mail(raw: bytes, limits: Limits | None = None, *, scratch: Scratch) -> ParsedMail:
    """`read_mail` in this process, for a mail in memory (tests and tools)."""
    return read_mail(raw, str(scratch.path), limits or Limits())


def _content_hash(subject: str, note: str, attachments: list[Attachment], left_out: list[LeftOut]) -> str:
    """SHA-256 of what the mail says and carries, in order (see ParsedMail.content_sha256)."""
    said = [subject, note]
    said += [f"{a.name}\0{a.content.sha256}" for a in attachments]
    said += [f"{item.name}\0{item.reason}" for item in left_out]
    return hashlib.sha256("\0\0".join(said).encode("utf-8", "surrogateescape")).hexdigest()


def _text_bytes(part: Part) -> bytes:
    if isinstance(part.body, bytes):
        return part.body[:_TEXT_BYTES]
    with part.body.open() as handle:
        return handle.read(_TEXT_BYTES)


def _head(part: Part) -> bytes:
    if isinstance(part.body, bytes):
        return part.body[:_EMPTY_CHECK_BYTES]
    return part.body.head(_EMPTY_CHECK_BYTES)


def _charset(part: Part) -> str | None:
    try:
        return part.headers.get_content_charset()
    except Exception:
        return None


def _param(part: Part, name: str) -> str:
    try:
        return str(part.headers.get_param(name) or "")
    except Exception:
        return ""


def _preferred(children: list[Part]) -> Part | None:
    """The alternative whose text becomes the cover: plain text if it says anything, else HTML."""
    for child in children:
        plain = content_type(child.headers) == "text/plain" and not filename(child.headers)
        if plain and not child.is_multipart() and _head(child).strip():
            return child
    for child in children:
        ctype = content_type(child.headers)
        if ctype == "text/html" or (child.is_multipart() and ctype != "multipart/alternative"):
            return child
    return children[-1] if children else None
