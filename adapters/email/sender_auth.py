"""Sender authentication: is a mail really from the allowed sender its From header names?

`verify_sender` is pure and picklable (plain arguments, no event loop), so it can run in a thread
or a worker process on a message held in memory, in a spool file or in an open binary stream.
Modes (FAXBRIDGE_SENDER_AUTH): `dkim` verifies a DKIM signature aligned with the From domain,
`mta` trusts the Authentication-Results of one named MTA, `none` trusts the envelope alone.
A session authenticated by SMTP AUTH is authenticated in every mode.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from enum import StrEnum
from typing import BinaryIO

import authres
import authres.dmarc
import dkim
import dkim.util
import dns.exception
import dns.resolver
from publicsuffixlist import PublicSuffixList

from bridge.senders import SenderPolicy, normalise_address
from bridge.settings import SmtpSettings

__all__ = [
    "DnsTemporaryFailure",
    "Outcome",
    "TxtLookup",
    "Verdict",
    "dns_txt",
    "organizational_domain",
    "verify_sender",
]

# dkimpy re-joins every folded header line, so its time grows with the square of a header's
# length; 128 KiB keeps a hostile header under a second while real headers (Postfix cuts a
# single header at 100 KiB) fit.
MAX_HEADER_BYTES = 128 * 1024
# Each aligned signature costs a DNS lookup and a pass over the body; real mail carries one or two.
MAX_ALIGNED_SIGNATURES = 3
# A single Authentication-Results header larger than this is not from a real MTA.
MAX_RESULTS_HEADER = 16 * 1024
DNS_LIFETIME_SECONDS = 5.0
READ_CHUNK = 64 * 1024

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO
TxtLookup = Callable[[str], bytes | None]
"""Given `selector._domainkey.domain`, the TXT record's bytes, or None when there is none.

Raises DnsTemporaryFailure when the answer may come later (timeout, SERVFAIL)."""


class DnsTemporaryFailure(Exception):
    """A DNS lookup that may succeed later: no answer in time, or the servers failed."""


class Outcome(StrEnum):
    PASS = "pass"
    NOT_ALLOWED = "not allowed"  # the authenticated From address is not on the allowlist
    UNAUTHENTICATED = "unauthenticated"  # fails the same way however often it is sent
    TEMPORARY = "temporary"  # may pass later: a DNS lookup failed for now


@dataclass(frozen=True)
class Verdict:
    """The answer for one mail: its outcome and a reason a person can act on."""

    outcome: Outcome
    reason: str

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.PASS

    @property
    def smtp_code(self) -> str:
        return {
            Outcome.PASS: "250 2.0.0",
            Outcome.NOT_ALLOWED: "550 5.7.1",
            Outcome.UNAUTHENTICATED: "550 5.7.26",
            Outcome.TEMPORARY: "451 4.3.0",
        }[self.outcome]

    @property
    def smtp_reason(self) -> str:
        if self.outcome is Outcome.UNAUTHENTICATED:
            return f"sender not authenticated: {self.reason}"
        if self.outcome is Outcome.TEMPORARY:
            return f"sender not authenticated yet: {self.reason}; please try again later"
        return self.reason


def _passed(reason: str) -> Verdict:
    return Verdict(Outcome.PASS, reason)


def _refused(reason: str) -> Verdict:
    return Verdict(Outcome.UNAUTHENTICATED, reason)


def verify_sender(
    message: Source,
    *,
    settings: SmtpSettings,
    recipients: Sequence[str],
    authenticated: bool,
    lookup: TxtLookup | None = None,
) -> Verdict:
    """Decide whether the mail's From is an allowed sender proven by the configured mode.

    `recipients` are the envelope's fax addresses: in `dkim` mode each must be named in a signed
    To or Cc header, so a signed mail the sender once wrote to someone else cannot be replayed to
    a fax number. `lookup` resolves DKIM keys (DNS by default; tests inject their own).
    """
    mode = settings.sender_auth_mode
    if mode == "none":
        return _passed("sender authentication is off (FAXBRIDGE_SENDER_AUTH=none)")
    if authenticated:
        return _passed("the session authenticated with SMTP AUTH")
    raw = _read_all(message) if mode == "dkim" else None
    head = _header_section(raw if raw is not None else message)
    if head is None:
        return _refused(f"the header section is larger than {MAX_HEADER_BYTES} bytes")
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    author = _author(headers)
    if isinstance(author, Verdict):
        return author
    policy = SenderPolicy(settings.allowed_senders, open_when_empty=settings.demo)
    if not policy.allows(author):
        return Verdict(Outcome.NOT_ALLOWED, f"the From address {author} is not allowed to send faxes")
    domain = author.rpartition("@")[2]
    if mode == "mta":
        return _trusted_results(headers, domain, settings.authserv_id)
    assert raw is not None
    return _dkim(raw, author, recipients, lookup or dns_txt)


# -- reading ----------------------------------------------------------------------------------------


def _read_all(message: Source) -> bytes:
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    if isinstance(message, str | os.PathLike):
        with open(message, "rb") as handle:
            return handle.read()
    return message.read()


def _header_section(message: Source) -> bytes | None:
    """The header lines up to the blank line, or None when they run past MAX_HEADER_BYTES."""
    if isinstance(message, bytes | bytearray | memoryview):
        return _split_head(bytes(message[: MAX_HEADER_BYTES + 4]), complete=len(message) <= MAX_HEADER_BYTES)
    if isinstance(message, str | os.PathLike):
        with open(message, "rb") as handle:
            return _head_of_stream(handle)
    return _head_of_stream(message)


def _head_of_stream(stream: BinaryIO | io.BufferedReader) -> bytes | None:
    start = stream.read(MAX_HEADER_BYTES + 4)
    return _split_head(start, complete=not stream.read(1))


def _split_head(start: bytes, *, complete: bool) -> bytes | None:
    ends = [i for i in (start.find(b"\r\n\r\n"), start.find(b"\n\n")) if i >= 0]
    if ends:
        end = min(ends)
        return start[:end] + b"\r\n" if end <= MAX_HEADER_BYTES else None
    return start if complete else None  # a mail without a body is all header


def _author(headers: Message) -> str | Verdict:
    """The single From address, normalised; a refusal when there is none, several, or nonsense."""
    values = headers.get_all("From") or []
    if not values:
        return _refused("the mail has no From header")
    if len(values) > 1:
        return _refused("the mail has more than one From header")
    addresses = [address for _, address in getaddresses([str(values[0])]) if address]
    if len(addresses) != 1:
        return _refused("the From header must name exactly one address")
    normal = normalise_address(addresses[0])
    if normal is None:
        return _refused("the From address cannot be read")
    return normal


# -- alignment ------------------------------------------------------------------------------------


@functools.cache
def _quiet() -> logging.Logger:
    """dkimpy's logger: it logs each failure as an error, and the verdict carries the reason instead."""
    logger = logging.getLogger("faxbridge.email.dkimpy")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


@functools.cache
def _suffixes() -> PublicSuffixList:
    # The list bundled with the package: no fetch at run time. Private suffixes (github.io and the
    # like) count, so two customers of one hosting domain never align with each other.
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registrable domain (`mail.example.co.uk` → `example.co.uk`); the name itself if none."""
    name = domain.strip().lower().rstrip(".")
    return _suffixes().privatesuffix(name) or name


def aligned(domain: str, author_domain: str) -> bool:
    """DMARC's relaxed alignment: both names belong to the same organizational domain."""
    return bool(domain) and organizational_domain(domain) == organizational_domain(author_domain)


# -- dkim mode ------------------------------------------------------------------------------------


class _Keys:
    """dkimpy's `dnsfunc`: one lookup per name, a temporary failure raised past dkimpy's handlers."""

    def __init__(self, lookup: TxtLookup) -> None:
        self.lookup = lookup
        self.known: dict[bytes, bytes | None] = {}

    def __call__(self, name: bytes, timeout: float = DNS_LIFETIME_SECONDS) -> bytes | None:
        if name not in self.known:
            text = name.decode("ascii").rstrip(".")
            self.known[name] = self.lookup(text)
        return self.known[name]


def _dkim(raw: bytes, author: str, recipients: Sequence[str], lookup: TxtLookup) -> Verdict:
    author_domain = author.rpartition("@")[2]
    try:
        checker = _parsed_for_dkim(raw)
    except dkim.DKIMException as exc:
        return _refused(f"the mail's header cannot be read for DKIM ({_short(exc)})")
    except IndexError:  # dkimpy's parser on a folded line before any header
        return _refused("the mail's header starts with a folded line")
    signatures = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    if not signatures:
        return _refused(f"the mail has no DKIM signature; {author_domain} must sign its mail")
    keys = _Keys(lookup)
    problems: list[str] = []
    others: list[str] = []
    temporary = ""
    tried = 0
    for index, value in enumerate(signatures):
        try:
            tags = dkim.util.parse_tag_value(value)
        except dkim.util.InvalidTagValueList:
            problems.append("a DKIM-Signature header is malformed")
            continue
        domain = tags.get(b"d", b"").decode("ascii", "replace").strip().lower().rstrip(".")
        if not aligned(domain, author_domain):
            others.append(domain or "(no d=)")
            continue
        if tried == MAX_ALIGNED_SIGNATURES:
            break
        tried += 1
        try:
            problem = _check_signature(checker, index, tags, keys, author, recipients)
        except DnsTemporaryFailure as exc:
            temporary = f"the DNS lookup of {domain}'s DKIM key failed ({exc})"
            continue
        if problem is None:
            return _passed(f"DKIM signature of {domain} verified")
        problems.append(problem)
    if problems:
        return _refused(problems[0])
    if temporary:
        return Verdict(Outcome.TEMPORARY, temporary)
    return _refused(
        f"no DKIM signature from {author_domain} (signed by {', '.join(sorted(set(others)))[:200]})"
    )


def _parsed_for_dkim(raw: bytes) -> dkim.DKIM:
    """dkimpy's view of the mail, without splitting a large body into lines when it need not.

    dkimpy splits the whole message into lines and joins the body again, about three copies of a
    25 MB scan at once. Mail over SMTP ends its lines in CRLF, and for such a mail that join gives
    back the bytes after the blank line unchanged, so only the header is parsed and the body is a
    slice. A mail with a bare LF anywhere goes through dkimpy's own parser.
    """
    end = raw.find(b"\r\n\r\n")
    if end < 0 or raw.count(b"\n") != raw.count(b"\r\n"):
        return dkim.DKIM(raw, logger=_quiet())
    checker = dkim.DKIM(raw[: end + 2], logger=_quiet())
    checker.body = raw[end + 4 :]
    return checker


def _check_signature(
    checker: dkim.DKIM,
    index: int,
    tags: dict[bytes, bytes],
    keys: _Keys,
    author: str,
    recipients: Sequence[str],
) -> str | None:
    """None when signature `index` verifies and covers what it must, else why not."""
    domain = tags[b"d"].decode("ascii", "replace").strip()
    try:
        dkim.validate_signature_fields(tags)
    except dkim.ValidationError as exc:
        return f"the DKIM signature of {domain} is unusable: {_short(exc)}"
    if tags[b"a"].strip().lower() == b"rsa-sha1":
        return f"the DKIM signature of {domain} uses rsa-sha1, which no longer counts (RFC 8301)"
    if b"l" in tags:
        return f"the DKIM signature of {domain} covers only part of the body (l= tag)"
    signed = [h.strip().lower() for h in re.split(rb"\s*:\s*", tags[b"h"])]
    if b"from" not in signed:
        return f"the DKIM signature of {domain} does not cover the From header"
    name = tags[b"s"].strip() + b"._domainkey." + tags[b"d"].strip() + b"."
    try:
        dkim.load_pk_from_dns(name, keys)
    except DnsTemporaryFailure:
        raise
    except Exception as exc:  # KeyFormatError, bad base64, an ed25519 key without PyNaCl, …
        if keys.known.get(name) is None:
            return f"no DKIM key is published at {name.decode('ascii', 'replace').rstrip('.')}"
        return f"the DKIM key published for {domain} is unusable ({_short(exc)})"
    try:
        valid = checker.verify(index, dnsfunc=keys)
    except DnsTemporaryFailure:
        raise
    except Exception as exc:  # hostile input can trip dkimpy anywhere; it must never become a 451 loop
        return f"the DKIM signature of {domain} does not verify: {_short(exc)}"
    if not valid:
        return f"the DKIM signature of {domain} does not match the mail (it was changed, or signed with another key)"
    return _unsigned_address(checker.signed_headers, author, recipients)


def _signed_addresses(signed_headers: Sequence[tuple[bytes, bytes]], *names: bytes) -> set[str]:
    found: set[str] = set()
    for name, value in signed_headers:
        if name.strip().lower() in names:
            text = value.decode("utf-8", "replace")
            found.update(normalise_address(a) or a.lower() for _, a in getaddresses([text]) if a)
    return found


def _unsigned_address(
    signed_headers: Sequence[tuple[bytes, bytes]], author: str, recipients: Sequence[str]
) -> str | None:
    """Why the signed headers do not show the author and every fax recipient, or None when they do."""
    # Read from what dkimpy hashed, so no difference between two header parsers can swap the author.
    if author not in _signed_addresses(signed_headers, b"from"):
        return "the signed From header is not the one the mail shows"
    named = _signed_addresses(signed_headers, b"to", b"cc")
    for recipient in recipients:
        if (normalise_address(recipient) or recipient.lower()) not in named:
            return (
                f"{recipient} is not in a signed To or Cc header; "
                "put the fax address in To or Cc (Bcc cannot be authenticated)"
            )
    return None


def _short(exc: BaseException) -> str:
    """An exception's message without the echoed header or key text dkimpy adds in parentheses."""
    text = re.sub(r"b'([^']*)'", r"\1", " ".join(str(exc).split()))
    return re.sub(r"\s*[(:].*$", "", text)[:120] or type(exc).__name__


def dns_txt(name: str) -> bytes | None:
    """The TXT record at `name` through the system's resolver (dnspython), for DKIM keys."""
    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=DNS_LIFETIME_SECONDS, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.YXDOMAIN):
        return None
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration) as exc:
        raise DnsTemporaryFailure(type(exc).__name__) from exc
    except dns.exception.DNSException:
        return None  # a name DNS cannot even ask for: no key will ever be found there
    for record in answer:
        return b"".join(record.strings)
    return None


# -- mta mode -------------------------------------------------------------------------------------


@functools.cache
def _results_parser() -> authres.FeatureContext:
    return authres.FeatureContext(authres.dmarc)


def _trusted_results(headers: Message, author_domain: str, authserv_id: str) -> Verdict:
    """Judge by the Authentication-Results headers our MTA added (authserv-id), ignoring all others."""
    trusted = authserv_id.strip().lower()
    results = []
    for value in headers.get_all("Authentication-Results") or []:
        text = " ".join(str(value).split())
        if len(text) > MAX_RESULTS_HEADER:
            continue
        try:
            parsed = _results_parser().parse_value(text)
        except (authres.AuthResError, RecursionError, ValueError, IndexError):
            continue  # unreadable: whoever wrote it, it proves nothing
        if parsed.authserv_id == trusted:
            results.extend(parsed.results)
    if not results:
        return _refused(f"no Authentication-Results from {authserv_id}")
    passes: list[str] = []
    for result in results:
        method, outcome = str(result.method).lower(), str(result.result).lower()
        if method == "dmarc" and outcome == "fail":
            return _refused(f"{authserv_id} found dmarc=fail for {author_domain}")
        if outcome == "pass" and _result_aligned(result, method, author_domain):
            passes.append(method)
    if passes:
        return _passed(f"{authserv_id} found {passes[0]}=pass aligned with {author_domain}")
    return _refused(
        f"{authserv_id} found no dmarc=pass nor aligned dkim=pass or spf=pass for {author_domain}"
    )


def _result_aligned(result: authres.AuthenticationResult, method: str, author_domain: str) -> bool:
    properties = {(str(p.type).lower(), str(p.name).lower()): str(p.value) for p in result.properties}
    if method == "dmarc":
        return properties.get(("header", "from"), "").lower().rstrip(".") == author_domain
    if method == "dkim":
        identity = properties.get(("header", "d")) or properties.get(("header", "i"), "").rpartition("@")[2]
        return aligned(identity, author_domain)
    if method == "spf":
        return aligned(properties.get(("smtp", "mailfrom"), "").rpartition("@")[2], author_domain)
    return False
