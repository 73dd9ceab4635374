"""Outlook's winmail.dat (TNEF): the attachments and body hidden inside, read defensively."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bridge.model import Attachment, LeftOut
from bridge.spooling import Spooled

__all__ = ["TNEF_SIGNATURE", "Unpacked", "is_tnef", "unpack_tnef"]

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
# tnefparse logs every odd property at warning level; those lines say nothing to an operator.
logging.getLogger("tnefparse").setLevel(logging.CRITICAL)


@dataclass(frozen=True, kw_only=True)
class Unpacked:
    """What a winmail.dat held: its files in order, what could not be used, and its body text."""

    attachments: tuple[Attachment, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    body: str = ""
    html: str = ""


def is_tnef(content_type: str, name: str, data: bytes) -> bool:
    """Whether a part is a TNEF container, by its type, its name or its first bytes."""
    return (
        content_type in TNEF_TYPES
        or name.lower() in ("winmail.dat", "win.dat")
        or data.startswith(TNEF_SIGNATURE)
    )


def unpack_tnef(data: bytes, name: str, keep: Callable[[bytes], Spooled]) -> Unpacked:
    """The attachments of a winmail.dat, each kept with `keep`; any failure leaves the container out."""
    from tnefparse import TNEF

    try:
        tnef = TNEF(data, do_checksum=False)
        attachments: list[Attachment] = []
        left_out: list[LeftOut] = []
        for index, item in enumerate(tnef.attachments, start=1):
            item_name = _text(_safe(item.long_filename) or _safe(item, "name")) or f"{name} item {index}"
            if getattr(item, "embed", None) is not None:
                left_out.append(LeftOut(name=item_name, reason="an attached Outlook item cannot be faxed"))
                continue
            payload = item.data if isinstance(item.data, bytes) else b""
            if not payload.strip(b"\x00 \t\r\n"):
                left_out.append(LeftOut(name=item_name, reason="the attachment is empty"))
                continue
            attachments.append(Attachment(name=item_name, content=keep(payload)))
        body = _text(tnef.body) if tnef.body else ""
        html = _text(tnef.htmlbody) if tnef.htmlbody else ""
    except Exception:  # a damaged or hostile container: leave it out, never fail the mail
        return Unpacked(
            left_out=(
                LeftOut(
                    name=name,
                    reason="the Outlook attachment (winmail.dat) is damaged and could not be opened",
                    attachment=True,
                ),
            )
        )
    if not attachments and not left_out and not (body or html):
        left_out.append(
            LeftOut(name=name, reason="the Outlook attachment (winmail.dat) holds no files", attachment=True)
        )
    return Unpacked(attachments=tuple(attachments), left_out=tuple(left_out), body=body, html=html)


def _safe(getter: object, attribute: str = "") -> object:
    """A value tnefparse computes, or "" when its computation fails on odd data."""
    try:
        value = getattr(getter, attribute) if attribute else getter
        return value() if callable(value) else value
    except Exception:
        return ""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("windows-1252", errors="replace")
    else:
        text = str(value or "")
    return text.replace("\x00", "").strip()
