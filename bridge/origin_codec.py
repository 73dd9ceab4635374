"""Origin to and from JSON, so a store can keep it as one column."""

from __future__ import annotations

import json

from bridge.model import Channel, Origin


def origin_to_json(origin: Origin) -> str:
    return json.dumps(
        {
            "channel": origin.channel.value,
            "sender": origin.sender,
            "sender_name": origin.sender_name,
            "reply": dict(origin.reply),
        },
        ensure_ascii=False,
    )


def origin_from_json(text: str) -> Origin:
    data = json.loads(text)
    return Origin(
        channel=Channel(data["channel"]),
        sender=data["sender"],
        sender_name=data.get("sender_name", ""),
        reply=data.get("reply", {}),
    )
