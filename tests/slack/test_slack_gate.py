"""Slack is closed to strangers by default: only full members of the installing workspace may fax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.slack.gate import BOT, GUEST, INACTIVE, NOT_LISTED, OTHER_WORKSPACE
from tests.helpers.waiting import wait_until
from tests.slack.slack_harness import SlackBridge, payload, slack_bridge


@pytest.mark.parametrize(
    ("person", "told"),
    [
        ({"is_restricted": True}, GUEST),
        ({"is_ultra_restricted": True, "is_restricted": True}, GUEST),
        ({"team_id": "T0PARTNER"}, OTHER_WORKSPACE),
        ({"is_stranger": True, "team_id": "T0PARTNER"}, OTHER_WORKSPACE),
        ({"is_bot": True}, BOT),
        ({"deleted": True}, INACTIVE),
    ],
    ids=["guest", "single-channel-guest", "slack-connect", "stranger", "bot", "deactivated"],
)
async def test_strangers_sharing_files_are_told_why_and_nothing_is_fetched(
    slack: SlackBridge, person: dict[str, Any], told: str
) -> None:
    """Guests, other workspaces' users, bots and deactivated accounts get a reason; no download, no job.

    Mutation: letting a user through without the users.info check fails every case.
    """
    slack.fake.people["U0ALICE"] = person
    await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))
    await slack.settle()
    assert await slack.told() == [told]
    assert slack.fake.downloads == []
    assert await slack.jobs() == []


async def test_a_user_slack_does_not_know_is_refused(slack: SlackBridge) -> None:
    """users.info answering user_not_found (a Slack Connect user the bot cannot see) means no fax."""
    slack.fake.strangers.add("U0ALICE")
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()
    assert await slack.told() == [OTHER_WORKSPACE]
    assert await slack.jobs() == []


async def test_membership_is_checked_against_the_team_of_the_installation(slack: SlackBridge) -> None:
    """The workspace compared with is auth.test's team: a member of it faxes, and users.info was asked."""
    await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))
    await slack.settle()
    assert len(await slack.jobs()) == 1
    [lookup] = slack.fake.called("users.info")
    assert lookup.args["user"] == "U0ALICE"


async def test_a_guest_gets_no_form_from_the_command_or_the_shortcut(slack: SlackBridge) -> None:
    """/fax and Send as fax by a guest open no form; the guest is told why, privately."""
    slack.fake.people["U0ALICE"] = {"is_restricted": True}
    assert (await slack.command()).status_code == 200
    shortcut = payload("message_action.json")
    shortcut["message"]["files"] = [slack.pdf("F0SCAN1", "scan-1.pdf", 1)]
    assert (await slack.interact(shortcut)).status_code == 200
    await slack.settle()
    assert slack.fake.called("views.open") == []
    ephemerals = slack.fake.called("chat.postEphemeral")
    assert [(e.args["user"], e.args["text"]) for e in ephemerals] == [("U0ALICE", GUEST)] * 2


async def test_a_form_submitted_by_someone_who_since_became_a_guest_is_refused(slack: SlackBridge) -> None:
    """The check is made again when the form is sent: nothing is fetched or faxed for a guest."""
    slack.fake.people["U0ALICE"] = {"is_restricted": True}
    await slack.interact(slack.submission([slack.pdf("F0FIRST", "first.pdf", 1)]))
    await slack.settle()
    assert await slack.told() == [GUEST]
    assert slack.fake.downloads == []
    assert await slack.jobs() == []


async def test_membership_is_looked_up_once_in_a_while(slack: SlackBridge) -> None:
    """Several requests by one person within five minutes cost one users.info call (mutation: no cache)."""
    for number in range(3):
        body = slack.dm(slack.pdf(f"F0{number}", f"doc{number}.pdf", 1))
        body["event_id"] = f"Ev{number}"
        body["event"]["ts"] = f"1764158500.00030{number}"
        await slack.event(body)
        await slack.settle()
    assert len(await slack.jobs()) == 3
    assert len(slack.fake.called("users.info")) == 1


async def test_when_membership_cannot_be_checked_nothing_is_faxed(slack: SlackBridge) -> None:
    """users.info refused (here: the app lacks users:read) means no fax, and the person hears it could not check."""
    slack.fake.refusing["users.info"] = "missing_scope"
    await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))
    await slack.settle()
    assert await slack.told() == [
        "faxbridge could not check your Slack account (missing_scope), so nothing was sent. "
        "Please try again in a few minutes."
    ]
    assert await slack.jobs() == []
    assert slack.fake.downloads == []


async def test_a_request_waits_while_slack_cannot_be_asked_then_is_faxed_once(slack: SlackBridge) -> None:
    """users.info unreachable: the request is neither refused nor faxed on a guess; it is done once Slack answers.

    Mutation: treating an unreachable Slack as "allowed" faxes at once (no wait); as a refusal, never.
    """
    slack.intake.inbox.retry_seconds = 0.1
    slack.intake.inbox.sweep_seconds = 0.05
    slack.fake.dropped.add("users.info")
    await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))
    await slack.settle()
    assert await slack.jobs() == []
    assert slack.fake.downloads == []
    assert await slack.told() == []
    slack.fake.dropped.clear()
    await wait_until(lambda: len(slack.fake.downloads) == 1)
    await slack.settle()
    assert len(await slack.jobs()) == 1
    assert await slack.told() == []


async def test_listed_users_may_fax_whoever_they_are(tmp_path: Path) -> None:
    """FAXBRIDGE_SLACK_ALLOWED_USERS trusts the people it names, a guest included, without asking users.info."""
    async with slack_bridge(tmp_path, slack_allowed_users="U0ALICE") as slack:
        slack.fake.people["U0ALICE"] = {"is_restricted": True, "team_id": "T0PARTNER"}
        await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))
        await slack.settle()
        assert len(await slack.jobs()) == 1
        assert slack.fake.called("users.info") == []


async def test_listed_channels_limit_where_even_members_may_fax(tmp_path: Path) -> None:
    """FAXBRIDGE_SLACK_ALLOWED_CHANNELS refuses a member in any other channel, and still refuses guests in it."""
    async with slack_bridge(tmp_path, slack_allowed_channels="C0FAXDESK") as slack:
        await slack.event(slack.dm(slack.pdf("F0FIRST", "first.pdf", 1)))  # a DM: not a listed channel
        await slack.settle()
        assert await slack.told() == [NOT_LISTED]

        slack.fake.people["U0ALICE"] = {"is_restricted": True}
        await slack.interact(slack.submission([slack.pdf("F0SECOND", "second.pdf", 1)]))  # in C0FAXDESK
        await slack.settle()
        assert (await slack.told())[1:] == [GUEST]
        assert await slack.jobs() == []
