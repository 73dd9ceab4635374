"""The sender verifier on its own: every input form, a worker process, and hostile mail."""

from __future__ import annotations

import io
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dns.exception
import dns.resolver
import pytest

from adapters.email import sender_auth
from adapters.email.sender_auth import (
    MAX_ALIGNED_SIGNATURES,
    MAX_HEADER_BYTES,
    DnsTemporaryFailure,
    Outcome,
    Verdict,
    dns_txt,
    organizational_domain,
    verify_sender,
)
from bridge.errors import ConfigError
from bridge.settings import Settings
from tests.email.conftest import FAX, mail
from tests.email.signing import DkimKey, KeyTable, key_name, sign

DKIM = Settings.from_mapping({"sender_auth": "dkim", "allowed_senders": "@example.com"})


def verdict(raw: object, table: KeyTable, settings: Settings = DKIM) -> Verdict:
    return verify_sender(raw, settings=settings.smtp, recipients=[FAX], authenticated=False, lookup=table)  # type: ignore[arg-type]


def refused(result: Verdict, words: str) -> None:
    assert result.outcome is Outcome.UNAUTHENTICATED, result
    assert words in result.reason, result
    assert result.smtp_code == "550 5.7.26"


def test_bytes_file_path_and_stream_give_the_same_verdict(tmp_path: Path, dkim_key: DkimKey) -> None:
    """The verifier reads a message from bytes, a spool file path or an open binary stream alike."""
    table = KeyTable().publish(dkim_key)
    raw = sign(mail(), dkim_key)
    spooled = tmp_path / "mail.eml"
    spooled.write_bytes(raw)
    with spooled.open("rb") as stream:
        results = [
            verdict(raw, table),
            verdict(spooled, table),
            verdict(str(spooled), table),
            verdict(stream, table),
        ]
    assert {r.outcome for r in results} == {Outcome.PASS}
    assert verdict(io.BytesIO(raw.replace(b"Please", b"Pleaze")), table).outcome is Outcome.UNAUTHENTICATED


def test_verifier_runs_in_a_worker_process(tmp_path: Path, dkim_key: DkimKey) -> None:
    """verify_sender, its settings and an injected lookup pickle, so a process pool can verify a spool file."""
    spooled = tmp_path / "mail.eml"
    spooled.write_bytes(sign(mail(), dkim_key))
    table = KeyTable().publish(dkim_key)
    pickle.dumps((verify_sender, DKIM, table))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(
            verify_sender, spooled, settings=DKIM.smtp, recipients=[FAX], authenticated=False, lookup=table
        ).result(timeout=120)
    assert result.outcome is Outcome.PASS, result


def test_mail_with_bare_line_feeds_verifies_through_dkimpys_own_parser(dkim_key: DkimKey) -> None:
    """A mail stored with LF line ends takes dkimpy's full parse (not the CRLF body slice) and still verifies."""
    raw = sign(mail(), dkim_key).replace(b"\r\n", b"\n")
    table = KeyTable().publish(dkim_key)
    assert verdict(raw, table).outcome is Outcome.PASS
    refused(verdict(raw.replace(b"Please", b"Pleaze"), table), "body hash mismatch")


def test_malformed_signature_header_is_refused(dkim_key: DkimKey) -> None:
    """A DKIM-Signature that is not a tag list gets a plain refusal, not a crash or a 451."""
    raw = b"DKIM-Signature: v=1; d=example.com; this is; not=tags; d=twice\r\n" + mail()
    refused(verdict(raw, KeyTable().publish(dkim_key)), "malformed")


def test_signature_with_bad_base64_is_refused(dkim_key: DkimKey) -> None:
    """A signature whose b= is not base64 is named as unusable."""
    raw = sign(mail(), dkim_key)
    start = raw.index(b" b=") + 3
    broken = raw[:start] + b"!!!not-base64!!!" + raw[raw.index(b"\r\n", start) :]
    refused(verdict(broken, KeyTable().publish(dkim_key)), "unusable")


def test_published_key_with_bad_base64_is_refused(dkim_key: DkimKey) -> None:
    """A key record whose p= is not base64 is a permanent failure (550), not a crash."""
    table = KeyTable(records={key_name(): b"v=DKIM1; k=rsa; p=@@@this-is-not-base64@@@"})
    refused(verdict(sign(mail(), dkim_key), table), "unusable")


def test_revoked_key_is_refused(dkim_key: DkimKey) -> None:
    """An empty p= (a revoked key) authenticates nothing."""
    table = KeyTable(records={key_name(): b"v=DKIM1; k=rsa; p="})
    refused(verdict(sign(mail(), dkim_key), table), "DKIM key")


def test_key_of_an_unsupported_type_is_refused(dkim_key: DkimKey) -> None:
    """An ed25519 key record (PyNaCl is not installed) is a refusal naming the key, never a crash and a 451."""
    table = KeyTable(
        records={key_name(): b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}
    )
    refused(verdict(sign(mail(), dkim_key), table), "unusable")


def test_sha1_signature_is_refused(dkim_key: DkimKey) -> None:
    """rsa-sha1 signatures no longer authenticate anyone (RFC 8301)."""
    raw = sign(mail(), dkim_key, algorithm="rsa-sha1")
    refused(verdict(raw, KeyTable().publish(dkim_key)), "rsa-sha1")


def test_huge_header_is_refused_without_parsing_it(dkim_key: DkimKey) -> None:
    """A header section over MAX_HEADER_BYTES (thousands of folded lines) is refused at once."""
    bomb = b"X-Filler: a\r\n" + b" b\r\n" * (MAX_HEADER_BYTES // 4 + 10)
    table = KeyTable().publish(dkim_key)
    refused(verdict(bomb + sign(mail(), dkim_key), table), "header section is larger")
    assert table.asked == []


def test_folded_line_before_any_header_is_refused(dkim_key: DkimKey) -> None:
    """A message starting with a continuation line trips dkimpy's parser; the answer is still a refusal."""
    refused(
        verdict(b" leading fold\r\n" + sign(mail(), dkim_key), KeyTable().publish(dkim_key)), "folded line"
    )


def test_two_from_headers_are_refused(dkim_key: DkimKey) -> None:
    """A second From (the classic way to show one author and sign another) is refused."""
    raw = b"From: boss@example.com\r\n" + sign(mail(), dkim_key)
    refused(verdict(raw, KeyTable().publish(dkim_key)), "more than one From")


def test_from_with_two_addresses_is_refused(dkim_key: DkimKey) -> None:
    """A From naming two mailboxes has no single author to authenticate."""
    raw = sign(mail(sender="ann@example.com, eve@evil.example"), dkim_key)
    refused(verdict(raw, KeyTable().publish(dkim_key)), "exactly one address")


def test_partial_body_signature_is_refused(dkim_key: DkimKey) -> None:
    """A signature with l= lets anyone append to the body, so it does not count."""
    raw = sign(mail(), dkim_key, length=True)
    refused(verdict(raw, KeyTable().publish(dkim_key)), "l= tag")


def test_signature_that_does_not_cover_from_is_refused(dkim_key: DkimKey) -> None:
    """A signature whose h= leaves out From proves nothing about the author."""
    raw = sign(mail(), dkim_key)
    raw = raw.replace(b"h=from : to", b"h=to", 1)
    refused(verdict(raw, KeyTable().publish(dkim_key)), "does not cover the From header")


def test_many_aligned_signatures_cost_a_bounded_number_of_lookups(dkim_key: DkimKey) -> None:
    """Fifty bogus signatures of the From domain lead to at most MAX_ALIGNED_SIGNATURES DNS lookups."""
    signed = sign(mail(), dkim_key)
    header = signed[: signed.index(b"From:")]
    bogus = b"".join(header.replace(b"s=s2026", f"s=x{n}".encode()) for n in range(50))
    table = KeyTable()
    refused(verdict(bogus + mail(), table), "no DKIM key")
    assert len(table.asked) == MAX_ALIGNED_SIGNATURES


def test_a_good_signature_beside_bad_ones_passes(dkim_key: DkimKey) -> None:
    """An ESP's foreign signature and a broken one do not hide the valid aligned signature."""
    raw = sign(sign(mail(), dkim_key, "esp.example"), dkim_key)
    raw = b"DKIM-Signature: garbage\r\n" + raw
    table = KeyTable().publish(dkim_key)
    assert verdict(raw, table).outcome is Outcome.PASS


def test_temporary_failure_only_when_nothing_permanent_was_found(dkim_key: DkimKey) -> None:
    """A DNS timeout gives 451 4.3.0 (it may pass later); with a permanent failure beside it, 550."""
    table = KeyTable(failing={key_name()})
    timed_out = verdict(sign(mail(), dkim_key), table)
    assert timed_out.outcome is Outcome.TEMPORARY and timed_out.smtp_code == "451 4.3.0", timed_out
    both = sign(sign(mail(), dkim_key), dkim_key, selector="gone")
    refused(verdict(both, KeyTable(failing={key_name()})), "no DKIM key")


def test_smtp_auth_skips_every_check() -> None:
    """An authenticated session needs neither a signature nor an allowed From."""
    result = verify_sender(mail(), settings=DKIM.smtp, recipients=[FAX], authenticated=True, lookup=KeyTable())
    assert result.outcome is Outcome.PASS


def test_organizational_domain_uses_the_bundled_public_suffix_list() -> None:
    """Registrable domains come from the bundled list: co.uk and github.io are suffixes, not organizations."""
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"
    assert organizational_domain("Mail.Example.COM.") == "example.com"
    assert organizational_domain("ann.github.io") != organizational_domain("bob.github.io")


# -- mta mode -------------------------------------------------------------------------------------

MTA = Settings.from_mapping(
    {"sender_auth": "mta", "authserv_id": "mx.corp.example", "allowed_senders": "@example.com"}
)


def test_huge_or_unparsable_results_headers_are_ignored() -> None:
    """Oversized, garbled and deeply nested Authentication-Results prove nothing and crash nothing."""
    headers = (
        b"Authentication-Results: mx.corp.example; dmarc=pass header.from=example.com; "
        + b"x" * 20_000
        + b"\r\n"
        + b"Authentication-Results: mx.corp.example ("
        + b"(" * 3000
        + b")" * 3000
        + b"); dmarc=pass\r\n"
        + b"Authentication-Results: mx.corp.example;;; = garbage\r\n"
    )
    result = verify_sender(headers + mail(), settings=MTA.smtp, recipients=[FAX], authenticated=False)
    assert result.outcome is Outcome.UNAUTHENTICATED and "no Authentication-Results" in result.reason


def test_mta_mode_reads_only_the_header_of_a_stream() -> None:
    """In mta mode the body of a spooled mail is never read: only the header section matters."""
    raw = b"Authentication-Results: mx.corp.example; dmarc=pass header.from=example.com\r\n" + mail(
        attachments=[("scan.pdf", b"%PDF" + bytes(1_000_000), "application/pdf")]
    )
    stream = io.BytesIO(raw)
    result = verify_sender(stream, settings=MTA.smtp, recipients=[FAX], authenticated=False)
    assert result.outcome is Outcome.PASS, result
    assert stream.tell() < MAX_HEADER_BYTES + 8


# -- settings and DNS -----------------------------------------------------------------------------


def test_default_mode_is_dkim_outside_demo_and_none_in_demo() -> None:
    """FAXBRIDGE_SENDER_AUTH defaults to dkim with RingCentral and to none in demo mode."""
    demo = Settings.load({})
    real = Settings.load(
        {
            "FAXBRIDGE_PROVIDER": "ringcentral",
            "FAXBRIDGE_RINGCENTRAL_CLIENT_ID": "id",
            "FAXBRIDGE_RINGCENTRAL_CLIENT_SECRET": "secret",
            "FAXBRIDGE_RINGCENTRAL_JWT": "jwt",
        }
    )
    assert (demo.smtp.sender_auth_mode, real.smtp.sender_auth_mode) == ("none", "dkim")
    assert (
        Settings.load({"FAXBRIDGE_SENDER_AUTH": "mta", "FAXBRIDGE_AUTHSERV_ID": "mx"}).smtp.sender_auth_mode
        == "mta"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FAXBRIDGE_SENDER_AUTH": "spf"}, "FAXBRIDGE_SENDER_AUTH"),
        ({"FAXBRIDGE_SENDER_AUTH": "mta"}, "FAXBRIDGE_AUTHSERV_ID"),
    ],
)
def test_unusable_sender_auth_settings_are_refused(env: dict[str, str], named: str) -> None:
    """An unknown mode, or mta mode without an authserv-id, is a configuration error naming the variable."""
    with pytest.raises(ConfigError, match=named):
        Settings.load(env)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (dns.resolver.NXDOMAIN(), None),
        (dns.resolver.NoAnswer(), None),
        (dns.exception.Timeout(), DnsTemporaryFailure),
        (dns.resolver.NoNameservers(), DnsTemporaryFailure),
    ],
)
def test_dns_answers_are_sorted_into_missing_and_temporary(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type[Exception] | None
) -> None:
    """No such record means no key (550); a timeout or SERVFAIL may pass later (451)."""

    def failing(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(sender_auth.dns.resolver, "resolve", failing)
    if expected is None:
        assert dns_txt("s._domainkey.example.com") is None
    else:
        with pytest.raises(expected):
            dns_txt("s._domainkey.example.com")
