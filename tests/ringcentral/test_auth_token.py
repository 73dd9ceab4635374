"""The token holder: JWT grant with Basic auth, early refresh, one retry on 401, no login storms, no leaks."""

from __future__ import annotations

import asyncio
import base64
import logging

import httpx
import pytest

from adapters.ringcentral import RingCentralProvider
from bridge.errors import ProviderPermanent, ProviderTransient
from tests.helpers.standin import JWT_GRANT, ManualClock
from tests.helpers.standin_client import (
    CLIENT_ID,
    CLIENT_SECRET,
    JWT,
    STORE,
    TOKEN_PATH,
    StandinRingCentral,
    error_response,
)


def bearer(seen_request: httpx.Request) -> str:
    return seen_request.headers["Authorization"].removeprefix("Bearer ")


async def test_token_is_fetched_with_basic_auth_and_the_jwt_grant(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """The first call logs in: form-encoded JWT bearer grant, client id and secret in a Basic header."""
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))

    token_call, api_call = fake.seen
    assert (token_call.method, token_call.path) == ("POST", TOKEN_PATH)
    scheme, _, encoded = token_call.request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
    assert token_call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_call.form == {"grant_type": JWT_GRANT, "assertion": JWT}
    assert bearer(api_call.request) == fake.tokens[0]


async def test_concurrent_callers_share_one_token_request(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """Many calls at once cause exactly one login; they all use its token."""
    fake.add_message("+12025550123")
    await asyncio.gather(*(provider.status(list(fake.messages)) for _ in range(8)))
    assert fake.grants == [JWT_GRANT]
    assert {bearer(s.request) for s in fake.requests_to(STORE)} == {fake.tokens[0]}


async def test_token_is_reused_while_it_is_fresh(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """Up to a minute before expiry, calls keep using the same token without asking for another."""
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    clock.now += 3600 - 61
    await provider.status(list(fake.messages))
    assert fake.grants == [JWT_GRANT]


async def test_token_is_refreshed_before_it_expires(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """Within the last minute of its life the token is renewed with the refresh grant, before any 401."""
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    clock.now += 3600 - 59
    await provider.status(list(fake.messages))

    assert fake.grants == [JWT_GRANT, "refresh_token"]
    refresh_call = fake.requests_to(TOKEN_PATH)[1]
    assert refresh_call.form == {"grant_type": "refresh_token", "refresh_token": fake.refresh_tokens[0]}
    assert bearer(fake.requests_to(STORE)[-1].request) == fake.tokens[1]
    assert all(s.request.headers.get("Authorization") for s in fake.seen)
    assert len(fake.requests_to(STORE)) == 2  # no request was refused on the way


async def test_short_lived_tokens_are_renewed_at_ninety_percent(clock: ManualClock) -> None:
    """A 600-second token is renewed after 540 s, not 60 s before a longer life."""
    fake = await StandinRingCentral(clock, token_ttl=600).start()
    provider = fake.provider(fake_sleep=False)
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    clock.now += 539
    await provider.status(list(fake.messages))
    assert len(fake.grants) == 1
    clock.now += 2
    await provider.status(list(fake.messages))
    assert len(fake.grants) == 2
    await provider.close()
    await fake.close()


async def test_refused_refresh_falls_back_to_the_jwt(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """When the refresh token is refused (invalid_grant), the holder logs in with the JWT once more."""
    fake.refuse_refresh()
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    clock.now += 3600
    statuses = await provider.status(list(fake.messages))
    assert fake.grants == [JWT_GRANT, "refresh_token", JWT_GRANT]
    assert len(statuses) == 1


async def test_expired_token_answer_gets_exactly_one_retry(
    provider: RingCentralProvider, fake: StandinRingCentral
) -> None:
    """A 401 OAU-128 drops the token, fetches a new one, and repeats the call once with it."""
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    fake.inject(STORE, error_response(401, "OAU-128", "Access token expired"))
    statuses = await provider.status(list(fake.messages))

    assert len(statuses) == 1
    reads = fake.requests_to(STORE)
    assert len(reads) == 3
    assert [bearer(r.request) for r in reads] == [fake.tokens[0], fake.tokens[0], fake.tokens[1]]
    assert len(fake.grants) == 2


@pytest.mark.parametrize("code", ["OAU-128", "OAU-129", "OAU-149"])
async def test_repeated_401_stops_after_one_retry(
    provider: RingCentralProvider, fake: StandinRingCentral, code: str
) -> None:
    """A server that keeps answering 401 gets two calls and two logins, then a transient error."""
    fake.add_message("+12025550123")
    fake.inject(STORE, error_response(401, code, "Access token refused"), times=100)
    with pytest.raises(ProviderTransient) as caught:
        await provider.status(list(fake.messages))
    assert len(fake.requests_to(STORE)) == 2
    assert len(fake.grants) == 2
    assert code in caught.value.reason


async def test_refused_credentials_are_permanent_and_not_retried_at_once(
    clock: ManualClock, fake: StandinRingCentral
) -> None:
    """A wrong client secret fails with plain words, and the next call within a minute asks nobody."""
    provider = fake.provider(secret="wrong-secret")
    with pytest.raises(ProviderPermanent) as first:
        await provider.status(["1"])
    assert first.value.code == "OAU-153"  # RingCentral's "Invalid client"
    assert "client id or secret" in first.value.reason
    with pytest.raises(ProviderPermanent):
        await provider.status(["1"])
    assert len(fake.requests_to(TOKEN_PATH)) == 1
    clock.now += 61
    with pytest.raises(ProviderPermanent):
        await provider.status(["1"])
    assert len(fake.requests_to(TOKEN_PATH)) == 2
    await provider.close()


async def test_wrong_jwt_is_reported_as_a_credential_problem(
    clock: ManualClock, fake: StandinRingCentral
) -> None:
    """A JWT the server refuses (invalid_grant) gives a permanent error naming the JWT credential."""
    provider = fake.provider(jwt="not.the.jwt", fake_sleep=False)
    with pytest.raises(ProviderPermanent) as caught:
        await provider.status(["1"])
    assert caught.value.code == "OAU-140"  # RingCentral's "Invalid resource owner credentials"
    assert "JWT credential" in caught.value.reason
    assert "not.the.jwt" not in str(caught.value)
    await provider.close()


async def test_token_endpoint_rate_limit_is_transient_and_waited_out(
    provider: RingCentralProvider, fake: StandinRingCentral, clock: ManualClock
) -> None:
    """A 429 from the token endpoint is transient, and nothing is sent until its Retry-After passed."""
    fake.inject(
        TOKEN_PATH, error_response(429, "CMN-301", "Request rate exceeded", headers={"Retry-After": "45"})
    )
    with pytest.raises(ProviderTransient) as caught:
        await provider.status(["1"])
    assert caught.value.retry_after == 45
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    assert fake.penalty_violations() == 0
    assert fake.seen[1].at - fake.seen[0].at >= 45


async def test_secrets_never_reach_logs_or_errors(
    fake: StandinRingCentral, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Client secret, JWT and tokens appear in no log line and no error, even when the server echoes them."""
    caplog.set_level(logging.DEBUG)
    provider = fake.provider()
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    clock.now += 3600
    await provider.status(list(fake.messages))
    echoed = f"bad token {fake.tokens[1]} for assertion {JWT}"
    fake.inject(STORE, error_response(400, "XYZ-999", echoed))
    with pytest.raises(ProviderPermanent) as caught:
        await provider.status(list(fake.messages))
    await provider.close()

    leaks = (CLIENT_SECRET, JWT, *fake.tokens, *fake.refresh_tokens)
    assert len(leaks) == 6
    texts = [caplog.text, str(caught.value), repr(provider), repr(provider.api), repr(provider.api.auth)]
    assert [leak for leak in leaks for text in texts if leak in text] == []
    assert "***" in str(caught.value)


async def test_check_logs_in_once_and_reports_bad_credentials(
    clock: ManualClock, fake: StandinRingCentral
) -> None:
    """check() succeeds with good credentials and raises the login error with bad ones."""
    good = fake.provider(fake_sleep=False)
    await good.check()
    assert fake.grants == [JWT_GRANT]
    bad = fake.provider(client_id="other-app", fake_sleep=False)
    with pytest.raises(ProviderPermanent, match="client id or secret"):
        await bad.check()
    await good.close()
    await bad.close()


async def test_close_revokes_the_session(provider: RingCentralProvider, fake: StandinRingCentral) -> None:
    """Closing the provider revokes its token, freeing one of the user's few sessions."""
    fake.add_message("+12025550123")
    await provider.status(list(fake.messages))
    await provider.close()
    assert fake.revoked == [fake.tokens[0]]
