"""The Slack app manifest for a deployment: `faxbridge slack-manifest --url https://HOST [--socket-mode]`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from adapters.slack.app import EVENTS_PATH
from adapters.slack.listeners import SHORTCUT_ID

# Only what the code uses: the command, posting and updating status, reading files, DMs and
# mentions, opening a DM when the bot cannot post where a fax was asked for, users.info to
# tell full members of the workspace from guests and people of other workspaces, and
# files:write to upload received faxes (files.getUploadURLExternal, files.completeUploadExternal).
BOT_SCOPES = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "im:history",
    "im:write",
    "users:read",
)
# Needed only by a bridge that receives faxes: it uploads them.
RECEIVING_SCOPES = ("files:write",)
BOT_EVENTS = ("app_mention", "message.im")
LONG_DESCRIPTION = (
    "faxbridge sends faxes through RingCentral. Type /fax to open a form with the fax number, "
    "the files and a cover note; share files with the bot in a direct message (or mention it) with the "
    "number in the text; or pick *Send as fax* on any message that has files. One message per fax "
    "shows its progress and how it ended, with a Cancel button until it is sent."
)


def request_url(base: str) -> str:
    """`https://HOST/slack/events` from what the operator typed: a host, a base URL, or the full URL."""
    text = base.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"Slack only calls https URLs; {base!r} is not one")
    path = parts.path.rstrip("/")
    if path.endswith(EVENTS_PATH):
        path = path[: -len(EVENTS_PATH)]
    return f"https://{parts.netloc}{path}{EVENTS_PATH}"


def build_manifest(url: str = "", *, command: str = "/fax", socket_mode: bool = False) -> dict[str, Any]:
    """The manifest as data; every request URL points at `url`'s /slack/events (none in Socket Mode)."""
    if not socket_mode and not url:
        raise ValueError("give the bridge's public URL (--url https://HOST), or use --socket-mode")
    target = {} if socket_mode else {"url": request_url(url)}
    slash = {
        "command": command,
        **target,
        "description": "Fax files to a number",
        "usage_hint": "[number] [cover note]",
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        events = {"request_url": target["url"], **events}
        interactivity["request_url"] = target["url"]
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "faxbridge",
            "description": "Send faxes from Slack through RingCentral.",
            "background_color": "#1d3557",
            "long_description": LONG_DESCRIPTION,
        },
        "features": {
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": "faxbridge", "always_online": True},
            "slash_commands": [slash],
            "shortcuts": [
                {
                    "name": "Send as fax",
                    "type": "message",
                    "callback_id": SHORTCUT_ID,
                    "description": "Fax the files of this message",
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(url: str = "", *, command: str = "/fax", socket_mode: bool = False) -> str:
    """The manifest as YAML, ready to paste into "Create an app > From a manifest"."""
    data = build_manifest(url, command=command, socket_mode=socket_mode)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
