"""Routes of received faxes, and the replies-come-home rule that never picks the wrong person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.model import Channel, Envelope, Job, Origin
from bridge.received import Destination, DestinationKind
from bridge.routing import Routes, reply_home
from bridge.settings import Settings
from bridge.states import JobState

EXAMPLE = "+12025550199=slack:C0123ABCD,email:desk@example.org;*=email:fax-admin@example.org"


def test_the_documented_example_routes_each_number() -> None:
    """The receiving number's own route wins; any other number takes `*`."""
    routes = Routes.parse(EXAMPLE)
    assert [str(d) for d in routes.destinations("+12025550199")] == [
        "slack:C0123ABCD",
        "email:desk@example.org",
    ]
    assert [str(d) for d in routes.destinations("+13125550100")] == ["email:fax-admin@example.org"]
    assert str(routes) == EXAMPLE


def test_without_a_star_an_unknown_number_has_no_route() -> None:
    """A number with no route and no `*` gets no destination (the fax is kept, not sent anywhere)."""
    routes = Routes.parse("+12025550199=slack:C0123ABCD")
    assert routes.destinations("+13125550100") == ()
    assert not Routes.parse("")


def test_the_toml_table_form_reads_the_same() -> None:
    """A TOML table of number to a list (or a string) of destinations equals the string form."""
    table = {
        "+12025550199": ["slack:C0123ABCD", "email:desk@example.org"],
        "*": "email:fax-admin@example.org",
    }
    assert Routes.parse(table) == Routes.parse(EXAMPLE)


def test_numbers_are_read_in_e164_whatever_their_punctuation() -> None:
    """`+1 202-555-0199` in a route matches a fax to +12025550199."""
    routes = Routes.parse("+1 202-555-0199=email:desk@example.org")
    assert routes.destinations("+12025550199") == (
        Destination(kind=DestinationKind.EMAIL, target="desk@example.org"),
    )


@pytest.mark.parametrize(
    "value",
    [
        "2025550199=slack:C0123ABCD",  # not E.164
        "+1202=slack:C0123ABCD",  # not a number
        "+12025550199",  # no destination
        "+12025550199=",  # empty destination list
        "+12025550199=fax:C0123ABCD",  # unknown kind
        "+12025550199=slack:#general",  # a channel name, not an id
        "+12025550199=email:nobody",  # not an address
        "+12025550199=email:a@b.example\r\nBcc: x@y.example",  # header injection
        "+12025550199=thread:abc",  # threads are not routed to by hand
        "+12025550199=slack:C0123ABCD;+1 202 555 0199=email:a@example.org",  # the same number twice
    ],
)
def test_bad_routes_are_a_configuration_error_naming_the_setting(value: str, tmp_path: Path) -> None:
    """Every malformed route is refused at start with FAXBRIDGE_INBOUND_ROUTES named, never dropped."""
    with pytest.raises(ConfigError, match="FAXBRIDGE_INBOUND_ROUTES"):
        Settings.from_mapping({"data_dir": str(tmp_path), "inbound_routes": value})


def test_inbound_settings_are_read_and_checked(tmp_path: Path) -> None:
    """Routes turn receiving on; ATTACH takes pdf or none; REPLY_DAYS may not be negative."""
    settings = Settings.from_mapping(
        {"provider": "sandbox", "inbound_routes": EXAMPLE, "inbound_attach": "none"}
    )
    assert settings.inbound.receiving and settings.inbound.attach == "none"
    assert settings.inbound.reply_days == 14 and settings.inbound.preview is True
    with pytest.raises(ConfigError, match="FAXBRIDGE_INBOUND_ATTACH"):
        Settings.from_mapping({"inbound_attach": "zip"})
    with pytest.raises(ConfigError, match="FAXBRIDGE_INBOUND_REPLY_DAYS"):
        Settings.from_mapping({"inbound_reply_days": "-1"})


def test_routes_come_from_a_toml_table(tmp_path: Path) -> None:
    """`[inbound_routes]` in the config file is read as the routes."""
    config = tmp_path / "faxbridge.toml"
    config.write_text(
        '[inbound_routes]\n"+12025550199" = ["slack:C0123ABCD"]\n"*" = "email:fax-admin@example.org"\n'
    )
    settings = Settings.load({"FAXBRIDGE_CONFIG": str(config)})
    assert str(settings.inbound.routes) == "+12025550199=slack:C0123ABCD;*=email:fax-admin@example.org"


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def job(job_id: str, kind: Channel, sender: str, *, hours_ago: float = 1, **reply: str) -> Job:
    return Job(
        id=job_id,
        state=JobState.DELIVERED,
        to="+12025550123",
        origin=Origin(channel=kind, sender=sender, reply=reply),
        created=NOW - timedelta(hours=hours_ago),
        updated=NOW,
        due_at=NOW,
        attempts=1,
        provider_id=None,
        reason=None,
        envelope=Envelope(),
        documents=(),
        left_out=(),
    )


def test_one_person_gets_the_reply_in_their_newest_thread() -> None:
    """Two faxes by the same person: the reply goes to the newer one's thread."""
    older = job("j1", Channel.SLACK, "U1", hours_ago=30, channel="C1", thread_ts="1.1")
    newer = job("j2", Channel.SLACK, "U1", hours_ago=2, channel="C1", thread_ts="2.2")
    verdict = reply_home("+12025550123", [older, newer], days=14)
    assert verdict.job is newer and verdict.note is None


def test_two_people_means_nobody_and_says_so() -> None:
    """Two different senders faxed the number: no thread gets it, and the note counts them (mutation: pick the newest)."""
    slack = job("j1", Channel.SLACK, "U1", channel="C1", thread_ts="1.1")
    mail = job("j2", Channel.EMAIL, "a@example.org", reply_to="a@example.org", message_id="<m@x>")
    verdict = reply_home("+12025550123", [slack, mail], days=14)
    assert verdict.job is None
    assert verdict.note == "2 people faxed +1 202-555-0123 within 14 days: not sent back to any of them"


def test_the_same_address_on_two_channels_is_two_people() -> None:
    """A Slack user id and a mail address are never taken for one person."""
    verdict = reply_home(
        "+12025550123",
        [job("j1", Channel.SLACK, "U1", channel="C1"), job("j2", Channel.SLACK, "U2", channel="C1")],
        days=14,
    )
    assert verdict.job is None and verdict.note


def test_nobody_faxed_the_number_means_no_reply_and_no_note() -> None:
    """A fax from a number nobody faxed goes by its routes alone, quietly."""
    assert reply_home("+12025550123", [], days=14) == reply_home("+12025550123", [], days=14)
    assert reply_home("+12025550123", [], days=14).job is None
    assert reply_home("+12025550123", [], days=14).note is None


def test_a_mail_that_takes_no_replies_or_a_command_line_fax_gets_none() -> None:
    """No thread exists for a command-line fax or a mail that asked for no replies."""
    cli = reply_home("+12025550123", [job("j1", Channel.CLI, "alice")], days=14)
    quiet = reply_home("+12025550123", [job("j1", Channel.EMAIL, "a@example.org", no_reply="1")], days=14)
    assert cli.job is None and quiet.job is None
    assert cli.note and quiet.note
