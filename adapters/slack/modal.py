"""The "Send a fax" modal: number, files and note, with where it was opened kept in private_metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.slack.files import MAX_FILES, file_name
from adapters.slack.status import escape
from bridge.filetypes import KINDS

CALLBACK_ID = "faxbridge_send"
NUMBER, FILES, NOTE = "number", "files", "note"
MAX_LISTED = 20
# What the core can fax, so the picker offers only those (the core still judges the bytes).
FILETYPES = sorted({ext for kind in KINDS.values() for ext in kind.extensions})


@dataclass(frozen=True, kw_only=True)
class Opened:
    """Where the modal was opened, and the files it was opened with (a message shortcut's)."""

    channel: str
    user: str
    team: str = ""
    thread_ts: str = ""
    files: tuple[str, ...] = ()

    def to_metadata(self) -> str:
        data: dict[str, Any] = {
            "channel": self.channel,
            "user": self.user,
            "team": self.team,
            "thread_ts": self.thread_ts,
        }
        if self.files:
            data["files"] = list(self.files)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_metadata(cls, text: str) -> Opened:
        data = json.loads(text or "{}")
        return cls(
            channel=str(data.get("channel", "")),
            user=str(data.get("user", "")),
            team=str(data.get("team", "")),
            thread_ts=str(data.get("thread_ts", "")),
            files=tuple(str(f) for f in data.get("files", ())),
        )


@dataclass(frozen=True, kw_only=True)
class Submission:
    """What the person entered: number text, files (Slack file objects, or ids to look up), note."""

    number: str
    files: tuple[Mapping[str, Any], ...]
    note: str
    opened: Opened
    picked: bool = True  # the files came from the file picker (not a message)


def fax_modal(
    *, opened: Opened, number: str = "", note: str = "", files: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The modal view. With `files` (a message's), they are listed; without, a file picker asks for some."""
    blocks: list[dict[str, Any]] = [
        _input(
            NUMBER,
            "Fax number",
            {
                "type": "plain_text_input",
                "action_id": NUMBER,
                "placeholder": _text("+1 202 555 0123"),
                "max_length": 40,
                **({"initial_value": number} if number else {}),
            },
            hint="With the country code, or as dialled in your country.",
        )
    ]
    if files:
        names = [f"• {escape(file_name(f))}" for f in files[:MAX_LISTED]]
        blocks.append(
            {
                "type": "section",
                "block_id": FILES,
                "text": {"type": "mrkdwn", "text": "*Files to fax, in this order*\n" + "\n".join(names)},
            }
        )
    else:
        blocks.append(
            _input(
                FILES,
                "Files to fax",
                {"type": "file_input", "action_id": FILES, "filetypes": FILETYPES, "max_files": MAX_FILES},
                hint="PDFs, images or Office documents; they are faxed in the order you add them.",
                # Optional for Slack: a fax of links in the note alone has no file; the bridge checks for one or the other.
                optional=True,
            )
        )
    blocks.append(
        _input(
            NOTE,
            "Cover note",
            {
                "type": "plain_text_input",
                "action_id": NOTE,
                "multiline": True,
                "max_length": 2000,
                **({"initial_value": note} if note else {}),
            },
            hint="Links to documents (https://…) written here are downloaded and faxed before the files.",
            optional=True,
        )
    )
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _text("Send a fax"),
        "submit": _text("Send fax"),
        "close": _text("Cancel"),
        "private_metadata": opened.to_metadata(),
        "blocks": blocks,
    }


def read_submission(view: Mapping[str, Any]) -> Submission:
    """The values of a submitted modal."""
    values = view.get("state", {}).get("values", {})
    opened = Opened.from_metadata(view.get("private_metadata", ""))
    number = values.get(NUMBER, {}).get(NUMBER, {}).get("value") or ""
    note = values.get(NOTE, {}).get(NOTE, {}).get("value") or ""
    if opened.files:
        files: tuple[Mapping[str, Any], ...] = tuple({"id": f} for f in opened.files)
        picked = False
    else:
        files = tuple(values.get(FILES, {}).get(FILES, {}).get("files") or ())
        picked = True
    return Submission(number=number.strip(), files=files, note=note.strip(), opened=opened, picked=picked)


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _input(
    block_id: str, label: str, element: dict[str, Any], *, hint: str = "", optional: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _text(label), "element": element}
    if hint:
        block["hint"] = _text(hint)
    if optional:
        block["optional"] = True
    return block
