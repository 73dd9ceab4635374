"""Who may fax from Slack: the people and channels an operator listed, else full members of the workspace.

With no FAXBRIDGE_SLACK_ALLOWED_USERS, a person may fax only if users.info says they are a
full member (not a guest, not a bot, not deactivated) of the team the bot is installed in
(auth.test); that keeps out Slack Connect users of other workspaces too. Listed users are
trusted as listed. FAXBRIDGE_SLACK_ALLOWED_CHANNELS, when set, limits where faxing works.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.messages import SlackUnreachable, error_of, worth_retrying

log = logging.getLogger("faxbridge.slack")
ASK = "Ask whoever runs faxbridge if you need it."
NOT_LISTED = (
    "Sorry, faxing from Slack is open only to some people and channels, and this is not one of them. " + ASK
)
GUEST = f"Sorry, faxbridge sends faxes only for full members of this workspace; guest accounts cannot. {ASK}"
OTHER_WORKSPACE = (
    "Sorry, faxbridge sends faxes only for members of the workspace it is installed in; "
    f"people from other workspaces cannot. {ASK}"
)
BOT = "Sorry, bots and apps cannot send faxes with faxbridge."
INACTIVE = "Sorry, deactivated accounts cannot send faxes."
MEMBERSHIP_TTL = 300.0  # a guest made a member (or the reverse) is noticed within five minutes
MAX_REMEMBERED = 10_000


def cannot_check(reason: str) -> str:
    return (
        f"faxbridge could not check your Slack account ({reason}), so nothing was sent. "
        "Please try again in a few minutes."
    )


class SlackGate:
    """Decides whether a Slack user may fax from a channel; answers with the reason when not."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        users: Iterable[str],
        channels: Iterable[str],
        team: Callable[[], Awaitable[str]],
        ttl: float = MEMBERSHIP_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.users = frozenset(users)
        self.channels = frozenset(channels)
        self.team = team
        self.ttl = ttl
        self.clock = clock
        self._verdicts: dict[str, tuple[float, str | None]] = {}  # user -> (until, refusal or None)

    def listed_refusal(self, user: str, channel: str) -> str | None:
        """The refusal the operator's lists alone give (no Slack call), else None."""
        if self.users and user not in self.users:
            return NOT_LISTED
        if self.channels and channel not in self.channels:
            return NOT_LISTED
        return None

    async def refusal(self, user: str, channel: str) -> str | None:
        """None when `user` may fax from `channel`; otherwise what to tell them.

        Raises SlackUnreachable when membership cannot be looked up now: never a guess either way.
        """
        listed = self.listed_refusal(user, channel)
        if listed or self.users:
            return listed
        return await self._membership(user)

    async def _membership(self, user: str) -> str | None:
        now = self.clock()
        cached = self._verdicts.get(user)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            team = await self.team()
            answer = await self.client.users_info(user=user)
        except SlackApiError as exc:
            if error_of(exc) in ("user_not_found", "user_not_visible"):
                return self._remember(user, now, OTHER_WORKSPACE)
            if worth_retrying(exc):
                raise SlackUnreachable(f"users.info answered {error_of(exc)}") from exc
            log.warning("Slack: users.info failed (%s); faxing is refused until it answers", error_of(exc))
            return cannot_check(error_of(exc))
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise SlackUnreachable(f"users.info failed: {type(exc).__name__}") from exc
        found = answer.get("user")
        verdict = member_refusal(found if isinstance(found, dict) else {}, team)
        return self._remember(user, now, verdict)

    def _remember(self, user: str, now: float, verdict: str | None) -> str | None:
        if len(self._verdicts) >= MAX_REMEMBERED:
            self._verdicts.clear()
        self._verdicts[user] = (now + self.ttl, verdict)
        return verdict


def member_refusal(user: Mapping[str, Any], team: str) -> str | None:
    """Why a users.info user object is not a full member of `team`, or None when it is."""
    if not user.get("id"):
        return OTHER_WORKSPACE
    if user.get("is_bot") or user.get("is_app_user") or user.get("id") == "USLACKBOT":
        return BOT
    if user.get("deleted"):
        return INACTIVE
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return GUEST
    if user.get("is_stranger") or not team or user.get("team_id") != team:
        return OTHER_WORKSPACE
    return None
