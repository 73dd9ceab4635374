"""Where a received fax goes: the routes by receiving number, and back to the one person who faxed the sender.

A reply must never reach the wrong person: the sender's number goes back to a thread only
when exactly one person faxed it within the window; with two or more, to nobody by this rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Any

import phonenumbers

from bridge.model import Channel, Job
from bridge.received import Destination, DestinationKind
from bridge.wording import display_number

ANY = "*"
# Slack conversation ids: channels (C), private channels and group DMs (G), DMs (D).
_SLACK_ID = re.compile(r"[CGD][A-Z0-9]{6,}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Routes:
    """FAXBRIDGE_INBOUND_ROUTES: each receiving number (E.164, or `*` for any other) to its destinations."""

    entries: tuple[tuple[str, tuple[Destination, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def destinations(self, to_number: str) -> tuple[Destination, ...]:
        """The destinations of a fax received on `to_number`: its own route, else `*`, else none."""
        table = dict(self.entries)
        return table.get(to_number) or table.get(ANY) or ()

    def __str__(self) -> str:
        return ";".join(f"{number}={','.join(map(str, targets))}" for number, targets in self.entries)

    @classmethod
    def parse(cls, value: object) -> Routes:
        """Routes from `NUMBER=DEST[,DEST…];…` or a TOML table; ValueError names the first bad part."""
        if isinstance(value, Routes):
            return value
        if isinstance(value, Mapping):
            pairs = [(str(number), _listed(targets)) for number, targets in value.items()]
        else:
            pairs = [_pair(item) for item in str(value).split(";") if item.strip()]
        entries: dict[str, tuple[Destination, ...]] = {}
        for raw_number, raw_targets in pairs:
            number = _number(raw_number)
            if number in entries:
                raise ValueError(f"{raw_number!r} has two routes; list all its destinations in one")
            targets = tuple(dict.fromkeys(_destination(text) for text in raw_targets))
            if not targets:
                raise ValueError(f"the route of {raw_number!r} names no destination")
            entries[number] = targets
        return cls(tuple(entries.items()))


@dataclass(frozen=True, kw_only=True)
class ReplyHome:
    """The verdict of the replies-come-home rule for one received fax."""

    job: Job | None = None  # the fax whose thread gets this one
    note: str | None = None  # why nobody gets it by this rule, when that needs saying


def reply_home(sender: str, faxed: Sequence[Job], *, days: float) -> ReplyHome:
    """Whose thread a fax from `sender` goes back to, given the faxes sent to that number within `days`.

    One person (the same channel and sender) faxed it: the newest of their faxes. Two or more:
    nobody, and the note says so. A fax asked for from the command line has no thread to go to.
    """
    people = {(job.origin.channel, job.origin.sender) for job in faxed}
    if not people:
        return ReplyHome()
    shown = display_number(sender)
    if len(people) > 1:
        return ReplyHome(
            note=f"{len(people)} people faxed {shown} within {days:g} days: not sent back to any of them"
        )
    newest = max(faxed, key=lambda job: (job.created, job.id))
    if newest.origin.channel is Channel.CLI:
        return ReplyHome(note=f"{shown} was faxed from the command line: no thread to send it back to")
    if newest.origin.channel is Channel.EMAIL and (
        newest.origin.reply.get("no_reply") == "1" or not newest.origin.reply.get("reply_to")
    ):
        return ReplyHome(note=f"{shown} was faxed by a mail that takes no replies")
    return ReplyHome(job=newest)


def _pair(item: str) -> tuple[str, list[str]]:
    number, sep, targets = item.partition("=")
    if not sep:
        raise ValueError(f"{item.strip()!r} is not NUMBER=DESTINATION[,DESTINATION…]")
    return number, targets.split(",")


def _listed(targets: Any) -> list[str]:
    if isinstance(targets, str):
        return targets.split(",")
    if isinstance(targets, list | tuple) and all(isinstance(t, str) for t in targets):
        return list(targets)
    raise ValueError(f"{targets!r}: a route's destinations are a string or a list of strings")


def _number(text: str) -> str:
    text = text.strip()
    if text == ANY:
        return ANY
    if not text.startswith("+"):
        raise ValueError(f"{text!r}: a route's number is in E.164 (+12025550199) or *")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{text!r} is not a phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _destination(text: str) -> Destination:
    destination = Destination.parse(text)
    if destination.kind is DestinationKind.SLACK and not _SLACK_ID.fullmatch(destination.target):
        raise ValueError(f"{text.strip()!r}: a Slack destination is a channel id such as C0123ABCD")
    if destination.kind is DestinationKind.EMAIL:
        _check_address(destination.target, text)
    if destination.kind is DestinationKind.THREAD:
        raise ValueError(f"{text.strip()!r}: a route goes to slack:CHANNEL_ID or email:ADDRESS")
    return destination


def _check_address(address: str, text: str) -> None:
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        raise ValueError(f"{text.strip()!r} is not a mail address") from None
    if _CONTROL.search(address) or not parsed.username or "." not in parsed.domain:
        raise ValueError(f"{text.strip()!r} is not a mail address")
