"""What each setting may hold: small rules that say, in words, what is allowed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from bridge.hosts import HostList, is_loopback

# A host name (RFC 1123 labels) or an IPv4/IPv6 literal; `localhost` included.
_HOST = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Rule:
    """A test on one typed value (or on each entry of a list) and the words for what passes it."""

    allowed: str
    ok: Callable[[Any], bool]


def _host(value: str) -> bool:
    return bool(_HOST.match(value)) or (":" in value and _ipv6(value))


def _host_list_entry(value: str) -> bool:
    # The same reading the link fetcher and the Slack file download apply.
    try:
        HostList.parse([value])
    except ValueError:
        return False
    return True


def _ipv6(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _url(value: str, *, plain_on_loopback: bool) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError on a port out of range
    except ValueError:
        return False
    if not host or not _host(host):
        return False
    return parts.scheme == "https" or (plain_on_loopback and parts.scheme == "http" and is_loopback(host))


def one_of(*choices: str) -> Rule:
    return Rule("one of " + ", ".join(choices), lambda v: v in choices)


LISTEN_PORT = Rule("a port number from 1 to 65535, or 0 for any free port", lambda v: 0 <= v <= 65535)
PORT = Rule("a port number from 1 to 65535", lambda v: 1 <= v <= 65535)
POSITIVE = Rule("a number above 0", lambda v: v > 0)
NOT_NEGATIVE = Rule("a number, 0 or more", lambda v: v >= 0)
POSITIVE_COUNT = Rule("a whole number above 0", lambda v: v > 0)
COUNT = Rule("a whole number, 0 or more", lambda v: v >= 0)
HOST = Rule("a host name or IP address", _host)
HOST_PORT = Rule("a host name or address, or host:port ([v6]:port)", lambda v: _host_list_entry(v))
HOST_OR_ANY = Rule(
    "a host name or IP address (0.0.0.0, :: or empty for every address)", lambda v: not v or _host(v)
)
DOMAIN = Rule("a domain name such as fax.example.com", lambda v: bool(_HOST.match(v)) and ":" not in v)
REGION = Rule(
    "a region phonenumbers knows, as a two-letter ISO code (US, GB, DE, …)",
    lambda v: v in phonenumbers.SUPPORTED_REGIONS,
)
HTTPS_URL = Rule(
    "an https:// URL (http:// only to this machine: 127.0.0.1, ::1 or localhost)",
    lambda v: _url(v, plain_on_loopback=True),
)
WEBHOOK_URL = Rule(
    "empty, or an https:// URL (http:// only to this machine)",
    lambda v: not v or _url(v, plain_on_loopback=True),
)
SENDER_ENTRY = Rule(
    "an address (ann@example.com) or a domain entry (@example.com)",
    lambda v: "@" in v and not v.endswith("@") and " " not in v,
)
ADDRESS = Rule(
    "empty, or a mail address such as fax@example.com",
    lambda v: not v or (SENDER_ENTRY.ok(v) and not v.startswith("@")),
)
SLACK_ID = Rule("a Slack id such as U012AB3CD or C012AB3CD", lambda v: bool(_SLACK_ID.match(v)))
SLACK_COMMAND = Rule("a slash command such as /fax", lambda v: bool(re.fullmatch(r"/[a-z0-9_-]{1,31}", v)))
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DATABASE_URL = Rule(
    "empty, sqlite:///PATH or postgresql://...",
    lambda v: not v or (v.startswith("sqlite:///") and len(v) > 10) or v.startswith(POSTGRES_SCHEMES),
)
NOT_EMPTY = Rule("not empty", lambda v: bool(str(v)))
COVER = Rule(
    "generated, none or provider:N (N a template number)",
    lambda v: v in ("generated", "none") or is_provider_cover(v),
)


# FAXBRIDGE_SMTP_RELAY_STARTTLS: `auto`, or a yes/no (older files said true/false).
RELAY_STARTTLS_CHOICES: dict[str, bool | None] = {
    "auto": None,
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}
RELAY_STARTTLS = Rule("auto, true or false", lambda v: v.lower() in RELAY_STARTTLS_CHOICES)
SENDER_AUTH_MODES = ("dkim", "mta", "none")
# Empty means the default for the mode (dkim, or none in demo mode).
SENDER_AUTH = Rule("one of " + ", ".join(SENDER_AUTH_MODES), lambda v: v in ("", *SENDER_AUTH_MODES))
HOST_OR_EMPTY = Rule("empty, or a host name or IP address", lambda v: not v or _host(v))


def is_provider_cover(value: str) -> bool:
    prefix, _, number = value.partition(":")
    return prefix == "provider" and number.isdigit()
