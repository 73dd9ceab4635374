"""A cover sheet to and from JSON, so a store can keep what a cover says as one column until it is drawn."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.model import Cover, CoverSheet


def sheet_to_json(sheet: CoverSheet) -> str:
    cover = sheet.cover
    return json.dumps(
        {
            "sender": cover.sender,
            "recipient": cover.recipient,
            "subject": cover.subject,
            "note": cover.note,
            "to": sheet.to,
            "pages": sheet.pages,
            "when": sheet.when.timestamp(),
        },
        ensure_ascii=False,
    )


def sheet_from_json(text: str) -> CoverSheet:
    data = json.loads(text)
    return CoverSheet(
        cover=Cover(
            sender=data["sender"], recipient=data["recipient"], subject=data["subject"], note=data["note"]
        ),
        to=data["to"],
        pages=int(data["pages"]),
        when=datetime.fromtimestamp(float(data["when"]), UTC),
    )
