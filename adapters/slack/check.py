"""`faxbridge check` for Slack: the bot token answers auth.test and carries the scopes the app uses."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.manifest import BOT_SCOPES, RECEIVING_SCOPES
from adapters.slack.messages import error_of
from bridge.findings import Finding, Level
from bridge.settings import SlackSettings


def slack_gap(settings: SlackSettings) -> str:
    """What is missing when Slack is only half configured (so it stays off); empty when it is not."""
    bot, secret, app = settings.bot_token, settings.signing_secret, settings.app_token
    if bot and not (secret or app):
        return (
            "FAXBRIDGE_SLACK_BOT_TOKEN is set but FAXBRIDGE_SLACK_SIGNING_SECRET is not"
            " (nor FAXBRIDGE_SLACK_APP_TOKEN for Socket Mode)"
        )
    if not bot and (secret or app):
        given = "FAXBRIDGE_SLACK_SIGNING_SECRET" if secret else "FAXBRIDGE_SLACK_APP_TOKEN"
        return f"{given} is set but FAXBRIDGE_SLACK_BOT_TOKEN is not"
    return ""


async def check_slack(settings: SlackSettings, *, receiving: bool = False) -> list[Finding]:
    part = "Slack"
    gap = slack_gap(settings)
    if gap:
        return [
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"half configured, so Slack is off: {gap}",
                fix="set the bot token (OAuth & Permissions) and the signing secret (Basic Information)"
                " or, for Socket Mode, the app token; or unset them all to leave Slack off",
            )
        ]
    if not settings.bot_token:
        return [Finding(part=part, level=Level.OK, message="off (no FAXBRIDGE_SLACK_BOT_TOKEN)")]
    found = []
    if settings.app_token and not settings.app_token.startswith("xapp-"):
        found.append(
            Finding(
                part=part,
                level=Level.ERROR,
                message="FAXBRIDGE_SLACK_APP_TOKEN is not an app-level token (xapp-…)",
            )
        )
    client = AsyncWebClient(token=settings.bot_token, base_url=settings.api_url)
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        return [
            *found,
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"auth.test refused the bot token: {error_of(exc)}",
                fix="reinstall the app and copy its Bot User OAuth Token into FAXBRIDGE_SLACK_BOT_TOKEN",
            ),
        ]
    except (SlackClientError, OSError) as exc:
        return [
            *found,
            Finding(
                part=part,
                level=Level.UNREACHABLE,
                message=f"{settings.api_url} cannot be reached: {exc}",
            ),
        ]
    found.append(
        Finding(part=part, level=Level.OK, message=f"bot {response.get('user')} in {response.get('team')}")
    )
    granted = {s.strip() for s in str(response.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
    missing = sorted(set(required_slack_scopes(receiving=receiving)) - granted)
    if missing:
        found.append(
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"the bot token lacks the scopes {', '.join(missing)}",
                fix="add them under OAuth & Permissions (or recreate the app from `faxbridge slack-manifest`) and reinstall",
            )
        )
    return found


def required_slack_scopes(*, receiving: bool = True) -> tuple[str, ...]:
    """The scopes the bot token must carry; files:write only where received faxes are uploaded."""
    return tuple(s for s in BOT_SCOPES if receiving or s not in RECEIVING_SCOPES)
