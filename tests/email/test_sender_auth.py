"""Sender authentication over a real SMTP session: DKIM verified by the bridge, the MTA's
Authentication-Results, SMTP AUTH, and the refusals `550 5.7.26` / `451` after DATA."""

from __future__ import annotations

from typing import Any

from bridge.testing import RecordingReplier
from tests.email.conftest import FAX, SENDER, Harness, mail
from tests.email.signing import DkimKey, KeyTable, key_name, sign

ALLOWED = "@example.com"


async def dkim_harness(make_harness: Any, table: KeyTable, **overrides: str) -> Harness:
    harness: Harness = await make_harness(
        sender_auth="dkim", allowed_senders=ALLOWED, dkim_lookup=table, **overrides
    )
    return harness


async def assert_nothing_happened(harness: Harness) -> None:
    """No job was stored and nobody was told anything (no receipt, no bounce)."""
    assert await harness.jobs() == []
    assert isinstance(harness.replier, RecordingReplier)
    assert harness.replier.calls == []


async def test_aligned_dkim_signature_from_an_allowed_sender_is_accepted(
    make_harness: Any, dkim_key: DkimKey
) -> None:
    """A mail signed by the From domain, whose key resolves through DNS, is queued with 250."""
    table = KeyTable().publish(dkim_key)
    harness = await dkim_harness(make_harness, table)
    answer = await harness.send(sign(mail(), dkim_key))
    assert answer.code == 250, answer
    assert (await harness.job(answer.job_ids[0])).to == "+12025550123"
    assert table.asked == [key_name()]


async def test_subdomain_signature_aligns_with_the_organizational_domain(
    make_harness: Any, dkim_key: DkimKey
) -> None:
    """d=mail.example.com vouches for From ann@example.com: same organizational domain (relaxed alignment)."""
    harness = await dkim_harness(make_harness, KeyTable().publish(dkim_key, "mail.example.com"))
    answer = await harness.send(sign(mail(), dkim_key, "mail.example.com"))
    assert answer.code == 250, answer


async def test_unsigned_mail_from_an_allowed_address_is_refused(make_harness: Any, dkim_key: DkimKey) -> None:
    """A forged envelope and From of an allowed address, without a signature, get 550 5.7.26 and no fax."""
    harness = await dkim_harness(make_harness, KeyTable().publish(dkim_key))
    answer = await harness.send(mail())
    assert answer.mail[0] == 250  # the envelope alone passes the allowlist...
    assert answer.code == 550, answer  # ...but the mail is refused after DATA
    assert answer.text.startswith("5.7.26 sender not authenticated: "), answer
    assert "no DKIM signature" in answer.text
    await assert_nothing_happened(harness)


async def test_signature_of_another_domain_does_not_vouch_for_the_from(
    make_harness: Any, dkim_key: DkimKey
) -> None:
    """A valid signature by evil.example on a mail From ann@example.com is refused.

    Mutation: make `aligned()` in sender_auth.py return True and this test fails.
    """
    table = KeyTable().publish(dkim_key, "evil.example")
    harness = await dkim_harness(make_harness, table)
    answer = await harness.send(sign(mail(), dkim_key, "evil.example"))
    assert answer.code == 550 and answer.text.startswith("5.7.26 "), answer
    assert "signed by evil.example" in answer.text
    await assert_nothing_happened(harness)


async def test_mail_changed_after_signing_is_refused(make_harness: Any, dkim_key: DkimKey) -> None:
    """Changing the body of a signed mail breaks the signature: 550 5.7.26 naming the body hash."""
    harness = await dkim_harness(make_harness, KeyTable().publish(dkim_key))
    signed = sign(mail(body="Fax the contract."), dkim_key)
    answer = await harness.send(signed.replace(b"Fax the contract.", b"Fax the invoice!!"))
    assert answer.code == 550 and "body hash mismatch" in answer.text, answer
    await assert_nothing_happened(harness)


async def test_from_outside_the_allowlist_is_refused_even_with_an_allowed_envelope(
    make_harness: Any, dkim_key: DkimKey
) -> None:
    """The allowlist judges the authenticated From: an allowed envelope with another From gets 550 5.7.1.

    Mutation: drop the `policy.allows(author)` check in `verify_sender` and this test fails.
    """
    harness = await dkim_harness(make_harness, KeyTable().publish(dkim_key, "other.example"))
    raw = sign(mail(sender="eve@other.example"), dkim_key, "other.example")
    answer = await harness.send(raw, sender=SENDER)
    assert answer.code == 550 and answer.text.startswith("5.7.1 "), answer
    assert "eve@other.example is not allowed" in answer.text
    await assert_nothing_happened(harness)


async def test_dns_failure_defers_and_the_same_mail_passes_once_dns_answers(
    make_harness: Any, dkim_key: DkimKey
) -> None:
    """A DNS timeout is temporary (451, the MTA retries); the retried mail is accepted once DNS works."""
    table = KeyTable(failing={key_name()}).publish(dkim_key)
    harness = await dkim_harness(make_harness, table)
    raw = sign(mail(), dkim_key)
    deferred = await harness.send(raw)
    assert deferred.code == 451 and "try again later" in deferred.text, deferred
    await assert_nothing_happened(harness)
    table.failing.clear()
    answer = await harness.send(raw)
    assert answer.code == 250, answer


async def test_missing_key_is_a_permanent_refusal(make_harness: Any, dkim_key: DkimKey) -> None:
    """No key published for the selector (NXDOMAIN) fails the same way every time: 550, never 451."""
    harness = await dkim_harness(make_harness, KeyTable())
    answer = await harness.send(sign(mail(), dkim_key))
    assert answer.code == 550 and "no DKIM key is published at s2026._domainkey.example.com" in answer.text
    await assert_nothing_happened(harness)


async def test_fax_address_only_in_bcc_is_refused(make_harness: Any, dkim_key: DkimKey) -> None:
    """A signed mail someone wrote to another person cannot be replayed to a fax number (RCPT not in signed To/Cc).

    Mutation: make `_check_signature` skip `_unsigned_address` and this test fails.
    """
    harness = await dkim_harness(make_harness, KeyTable().publish(dkim_key))
    answer = await harness.send(sign(mail(to="bob@partner.example"), dkim_key))
    assert answer.code == 550 and "is not in a signed To or Cc header" in answer.text, answer
    await assert_nothing_happened(harness)


async def test_fax_address_in_signed_cc_is_accepted(make_harness: Any, dkim_key: DkimKey) -> None:
    """The fax address may be in Cc as well as To, when that header is signed."""
    harness = await dkim_harness(make_harness, KeyTable().publish(dkim_key))
    raw = sign(mail(to="bob@partner.example", headers={"Cc": f"Fax <{FAX}>"}), dkim_key)
    answer = await harness.send(raw)
    assert answer.code == 250, answer


async def test_smtp_auth_session_counts_as_authenticated(make_harness: Any) -> None:
    """A scanner that logged in with SMTP AUTH needs no signature (loopback listener, no certificate)."""
    harness = await dkim_harness(
        make_harness, KeyTable(), smtp_auth_username="scanner", smtp_auth_password="s3cret"
    )
    answer = await harness.send(mail(), login=("scanner", "s3cret"))
    assert answer.code == 250, answer


async def test_none_mode_trusts_the_envelope_allowlist(make_harness: Any) -> None:
    """FAXBRIDGE_SENDER_AUTH=none accepts an unsigned mail from an allowed envelope sender."""
    table = KeyTable()
    harness: Harness = await make_harness(sender_auth="none", allowed_senders=ALLOWED, dkim_lookup=table)
    answer = await harness.send(mail())
    assert answer.code == 250, answer
    assert table.asked == []


# -- mta mode -------------------------------------------------------------------------------------

MTA = "mx.corp.example"


def with_results(raw: bytes, *values: str) -> bytes:
    """The mail with Authentication-Results headers on top, as MTAs prepend them (first = topmost)."""
    return b"".join(f"Authentication-Results: {v}\r\n".encode() for v in values) + raw


async def mta_harness(make_harness: Any) -> Harness:
    harness: Harness = await make_harness(sender_auth="mta", authserv_id=MTA, allowed_senders=ALLOWED)
    return harness


async def test_mta_dmarc_pass_is_accepted(make_harness: Any) -> None:
    """In mta mode a trusted `dmarc=pass header.from=example.com` lets the mail through."""
    harness = await mta_harness(make_harness)
    raw = with_results(mail(), f"{MTA}; dmarc=pass (p=reject) header.from=example.com")
    answer = await harness.send(raw)
    assert answer.code == 250, answer


async def test_mta_results_of_another_authserv_id_are_ignored(make_harness: Any) -> None:
    """A sender-forged `dmarc=pass` under another authserv-id counts for nothing: 550 5.7.26.

    Mutation: drop the authserv-id comparison in `_trusted_results` and this test fails.
    """
    harness = await mta_harness(make_harness)
    raw = with_results(
        mail(),
        "mx.attacker.example; dmarc=pass header.from=example.com; dkim=pass header.d=example.com",
        f"{MTA}.attacker.example; spf=pass smtp.mailfrom=ann@example.com",
    )
    answer = await harness.send(raw)
    assert answer.code == 550 and answer.text.startswith("5.7.26 "), answer
    assert f"no Authentication-Results from {MTA}" in answer.text
    await assert_nothing_happened(harness)


async def test_mta_several_headers_one_aligned_pass_suffices(make_harness: Any) -> None:
    """Several trusted headers (one per milter): a dkim=fail and an aligned spf=pass together pass."""
    harness = await mta_harness(make_harness)
    raw = with_results(
        mail(),
        f"{MTA}; dkim=fail header.d=example.com",
        f"{MTA.upper()}; spf=pass smtp.mailfrom=bounces@mail.example.com",
        "other.example; dmarc=fail header.from=example.com",
    )
    answer = await harness.send(raw)
    assert answer.code == 250, answer


async def test_mta_dmarc_fail_outweighs_a_pass(make_harness: Any) -> None:
    """A trusted dmarc=fail refuses the mail even beside an aligned dkim=pass claiming our authserv-id."""
    harness = await mta_harness(make_harness)
    raw = with_results(
        mail(),
        f"{MTA}; dmarc=fail header.from=example.com",
        f"{MTA}; dkim=pass header.d=example.com",
    )
    answer = await harness.send(raw)
    assert answer.code == 550 and "dmarc=fail" in answer.text, answer


async def test_mta_unaligned_pass_is_refused(make_harness: Any) -> None:
    """dkim=pass for another domain and spf=pass for a helo name do not authenticate From example.com."""
    harness = await mta_harness(make_harness)
    raw = with_results(
        mail(),
        f"{MTA}; dkim=pass header.d=mailer.example; spf=pass smtp.helo=mx.example.com",
        f"{MTA}; dmarc=pass header.from=other.example",
    )
    answer = await harness.send(raw)
    assert answer.code == 550 and answer.text.startswith("5.7.26 "), answer


async def test_mta_temperror_is_not_retried(make_harness: Any) -> None:
    """A temperror the MTA recorded stays in the header on every retry, so it is 550 rather than a 451 loop."""
    harness = await mta_harness(make_harness)
    raw = with_results(mail(), f"{MTA}; dkim=temperror header.d=example.com; dmarc=temperror")
    answer = await harness.send(raw)
    assert answer.code == 550, answer
