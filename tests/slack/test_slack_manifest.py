"""`faxbridge slack-manifest`: only keys of Slack's manifest schema, every URL at /slack/events."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from adapters.cli.main import main
from adapters.slack.manifest import build_manifest, request_url

# The manifest schema's keys, as Slack's published app manifest schema lists them.
# A dict maps each allowed key to the schema of its value; LIST_OF marks an array of such objects;
# None is a leaf (a string, number, boolean, or list of strings).
LIST_OF = "list of"
SCHEMA: dict[str, Any] = {
    "_metadata": {"major_version": None, "minor_version": None},
    "display_information": {
        "name": None,
        "description": None,
        "background_color": None,
        "long_description": None,
    },
    "features": {
        "bot_user": {"display_name": None, "always_online": None},
        "app_home": {
            "home_tab_enabled": None,
            "messages_tab_enabled": None,
            "messages_tab_read_only_enabled": None,
        },
        "slash_commands": (
            LIST_OF,
            {"command": None, "description": None, "usage_hint": None, "should_escape": None, "url": None},
        ),
        "shortcuts": (LIST_OF, {"name": None, "type": None, "callback_id": None, "description": None}),
    },
    "oauth_config": {
        "scopes": {"bot": None, "user": None, "bot_optional": None, "user_optional": None},
        "redirect_urls": None,
    },
    "settings": {
        "event_subscriptions": {"request_url": None, "bot_events": None, "user_events": None},
        "interactivity": {"is_enabled": None, "request_url": None, "message_menu_options_url": None},
        "socket_mode_enabled": None,
        "org_deploy_enabled": None,
        "token_rotation_enabled": None,
    },
}


def unknown_keys(value: Any, schema: Any, path: str = "") -> list[str]:
    """Every key in `value` that the schema does not have, as a dotted path."""
    if isinstance(schema, tuple):
        return [bad for i, item in enumerate(value) for bad in unknown_keys(item, schema[1], f"{path}[{i}]")]
    if schema is None:
        return [] if not isinstance(value, dict) else [f"{path} (expected a plain value)"]
    bad = [f"{path}.{key}".lstrip(".") for key in value if key not in schema]
    return bad + [
        b for key in value if key in schema for b in unknown_keys(value[key], schema[key], f"{path}.{key}")
    ]


def printed(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["slack-manifest", *args]) == 0
    data: dict[str, Any] = yaml.safe_load(capsys.readouterr().out)
    return data


def test_http_manifest_has_only_schema_keys_and_points_at_slack_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The HTTP manifest uses only schema keys, within Slack's limits, and every URL is /slack/events."""
    manifest = printed(capsys, "--url", "https://fax.example.com")
    assert unknown_keys(manifest, SCHEMA) == []
    url = "https://fax.example.com/slack/events"
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/fax"
    assert command["url"] == url
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert manifest["settings"]["socket_mode_enabled"] is False
    [shortcut] = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["name"], shortcut["callback_id"]) == (
        "message",
        "Send as fax",
        "faxbridge_send_as_fax",
    )
    info = manifest["display_information"]
    assert len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert len(manifest["features"]["bot_user"]["display_name"]) <= 80
    assert len(shortcut["name"]) <= 24
    assert command["command"].startswith("/")
    assert len(command["command"]) <= 32


def test_manifest_asks_for_the_scopes_and_events_the_code_uses(capsys: pytest.CaptureFixture[str]) -> None:
    """Bot scopes are exactly what the code calls for; DMs to the bot are enabled and writable."""
    manifest = printed(capsys, "--url", "https://fax.example.com")
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "app_mentions:read",
        "chat:write",
        "commands",
        "files:read",
        "files:write",
        "im:history",
        "im:write",
        "users:read",
    ]
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == ["app_mention", "message.im"]
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False


def test_socket_mode_manifest_has_no_request_urls(capsys: pytest.CaptureFixture[str]) -> None:
    """With --socket-mode the manifest enables Socket Mode and carries no request URL anywhere."""
    manifest = printed(capsys, "--socket-mode")
    assert unknown_keys(manifest, SCHEMA) == []
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}


def test_manifest_uses_the_configured_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAXBRIDGE_SLACK_COMMAND names the slash command in the manifest."""
    monkeypatch.setenv("FAXBRIDGE_SLACK_COMMAND", "/telefax")
    manifest = printed(capsys, "--url", "fax.example.com")
    assert manifest["features"]["slash_commands"][0]["command"] == "/telefax"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("fax.example.com", "https://fax.example.com/slack/events"),
        ("https://fax.example.com/", "https://fax.example.com/slack/events"),
        ("https://fax.example.com/slack/events", "https://fax.example.com/slack/events"),
        ("https://example.com:8443/bridge", "https://example.com:8443/bridge/slack/events"),
    ],
)
def test_request_url_is_built_from_what_the_operator_typed(given: str, expected: str) -> None:
    """A host, a base URL or the full events URL all give the same /slack/events request URL."""
    assert request_url(given) == expected


def test_plain_http_url_or_no_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Slack only calls https URLs, and HTTP mode needs one: otherwise exit 2 with the reason."""
    assert main(["slack-manifest", "--url", "http://fax.example.com"]) == 2
    assert "https" in capsys.readouterr().err
    assert main(["slack-manifest"]) == 2
    assert "--url" in capsys.readouterr().err
    with pytest.raises(ValueError, match="https"):
        build_manifest("ftp://fax.example.com")
