"""Error translation: every documented error code and every faxErrorCode gets a class, a cause and words."""

from __future__ import annotations

import httpx
import pytest

from adapters.ringcentral.codes import (
    API_CODES,
    FAX_ERRORS,
    OAUTH_ERRORS,
    error_code,
    error_from_response,
    fax_error,
    transport_error,
)
from bridge.errors import ProviderPermanent, ProviderTransient
from bridge.ports import FailureCause
from tests.helpers.standin_client import error_response, spec

# Documented codes after which trying again later can work: the server's side or the token.
RETRYABLE = {"OAU-128", "OAU-129", "OAU-149", "CMN-201", "CMN-203", "MSG-352"}
# The codes RingCentral documents for sending faxes, which must all be in the table.
FAX_SEND_CODES = [
    "MSG-337", "MSG-338", "MSG-340", "MSG-341", "MSG-343", "MSG-347", "MSG-348", "MSG-349", "MSG-350",
    "MSG-351", "MSG-352", "CMN-101", "CMN-103", "CMN-104", "CMN-419", "CMN-405", "OAU-128", "OAU-129",
    "OAU-149", "CMN-102", "CMN-301", "CMN-302", "CMN-303", "CMN-304", "CMN-310", "MSG-305",
]  # fmt: skip


def fax_error_codes() -> list[str]:
    loaded = spec()
    if loaded is None:
        return sorted(FAX_ERRORS)
    return list(loaded["components"]["schemas"]["FaxErrorCodeEnum"]["enum"])


@pytest.mark.parametrize("code", FAX_SEND_CODES)
def test_every_documented_fax_code_is_mapped(code: str) -> None:
    """The codes RingCentral documents for sending faxes each have their own entry."""
    assert code in API_CODES


@pytest.mark.parametrize(("code", "entry"), sorted(API_CODES.items()))
def test_each_api_code_maps_by_code_with_plain_words(code: str, entry: object) -> None:
    """Every mapped code gives the right error class and its own words, whatever the (localized) message."""
    status = API_CODES[code].status
    response = error_response(status, code, "Le serveur a refusé la demande", headers={"Retry-After": "9"})
    error = error_from_response(response, sends=True)
    if status == 429 or code in RETRYABLE:
        assert isinstance(error, ProviderTransient)
    else:
        assert isinstance(error, ProviderPermanent)
        assert error.code == code
    assert API_CODES[code].reason in error.reason
    assert code in error.reason
    assert "serveur" not in error.reason


@pytest.mark.parametrize("status", sorted({e.status for e in API_CODES.values()}))
def test_table_statuses_are_http_error_statuses(status: int) -> None:
    """Each table entry carries the 4xx or 5xx status RingCentral documents for it."""
    assert 400 <= status < 600


def test_code_is_read_from_errors_when_not_on_top() -> None:
    """A body with the code only in errors[0] (the spec's ApiErrorResponseModel) is still keyed on it."""
    response = httpx.Response(415, json={"errors": [{"errorCode": "MSG-348", "message": "x"}]})
    error = error_from_response(response, sends=True)
    assert isinstance(error, ProviderPermanent)
    assert error.code == "MSG-348"
    assert "file type" in error.reason


@pytest.mark.parametrize(("error", "entry"), sorted(OAUTH_ERRORS.items()))
def test_oauth_errors_without_a_code_are_permanent(error: str, entry: object) -> None:
    """A token answer with only an RFC 6749 `error` is a permanent login problem in plain words."""
    response = httpx.Response(400, json={"error": error, "error_description": "whatever"})
    mapped = error_from_response(response, sends=False)
    assert isinstance(mapped, ProviderPermanent)
    assert mapped.code == error
    assert OAUTH_ERRORS[error].reason in mapped.reason


def test_real_oauth_body_is_keyed_on_its_error_code() -> None:
    """The 2018 invalid_client body (OAU-123 in errors[]) names the app credentials."""
    body = {
        "error": "invalid_client",
        "error_description": "Client authentication is required",
        "errors": [{"errorCode": "OAU-123", "message": "Client authentication is required"}],
    }
    assert error_code(body) == "OAU-123"
    mapped = error_from_response(httpx.Response(401, json=body), sends=False)
    assert isinstance(mapped, ProviderPermanent)
    assert "client id or secret" in mapped.reason


def test_unknown_4xx_code_is_permanent_and_keeps_the_code() -> None:
    """A 4xx with a code nobody documented is permanent and records the code."""
    mapped = error_from_response(error_response(403, "MSG-999", "Some new refusal"), sends=True)
    assert isinstance(mapped, ProviderPermanent)
    assert mapped.code == "MSG-999"
    assert "Some new refusal" in mapped.reason


@pytest.mark.parametrize(("sends", "status"), [(True, 500), (True, 502), (False, 500), (False, 504)])
def test_unknown_5xx_is_transient_and_may_have_sent_only_for_the_send(sends: bool, status: int) -> None:
    """A 5xx is transient; only a call with effects (the fax POST) may have acted."""
    mapped = error_from_response(httpx.Response(status, text="upstream error"), sends=sends)
    assert isinstance(mapped, ProviderTransient)
    assert mapped.may_have_sent is sends


def test_429_carries_retry_after_and_never_may_have_sent() -> None:
    """A 429 is transient with the server's Retry-After; the request was refused, not acted on."""
    response = error_response(429, "CMN-301", "Request rate exceeded", headers={"Retry-After": "42"})
    mapped = error_from_response(response, sends=True)
    assert isinstance(mapped, ProviderTransient)
    assert mapped.retry_after == 42
    assert mapped.may_have_sent is False


@pytest.mark.parametrize(
    ("error", "sends", "may_have_sent"),
    [
        (httpx.ConnectError("refused"), True, False),
        (httpx.ConnectTimeout("slow"), True, False),
        (httpx.PoolTimeout("busy"), True, False),
        (httpx.ReadTimeout("slow"), True, True),
        (httpx.WriteTimeout("slow"), True, True),
        (httpx.ReadError("reset"), True, True),
        (httpx.WriteError("reset"), True, True),
        (httpx.RemoteProtocolError("closed"), True, True),
        (httpx.ReadTimeout("slow"), False, False),
        (httpx.ReadError("reset"), False, False),
    ],
)
def test_network_errors_are_transient_with_may_have_sent_after_the_request_left(
    error: httpx.HTTPError, sends: bool, may_have_sent: bool
) -> None:
    """Connect-phase failures cannot have sent anything; later ones may have, for a call with effects."""
    mapped = transport_error(error, sends=sends)
    assert isinstance(mapped, ProviderTransient)
    assert mapped.may_have_sent is may_have_sent


@pytest.mark.parametrize("code", fax_error_codes())
def test_every_fax_error_code_of_the_spec_has_a_cause_and_words(code: str) -> None:
    """Each FaxErrorCodeEnum value is in the table with a FailureCause and a sentence for the sender."""
    assert code in FAX_ERRORS
    meaning = fax_error(code)
    assert isinstance(meaning.cause, FailureCause)
    assert len(meaning.words.split()) >= 3  # a sentence, not a code
    assert code not in meaning.words


@pytest.mark.parametrize(
    ("code", "cause", "words"),
    [
        ("LineBusy", FailureCause.LINE_BUSY, "the line was busy"),
        ("NoAnswer", FailureCause.NO_ANSWER, "no one answered"),
        ("NoFaxMachine", FailureCause.NO_FAX_MACHINE, "the number is not a fax machine"),
        ("InvalidNumber", FailureCause.INVALID_NUMBER, None),
        ("WrongNumber", FailureCause.INVALID_NUMBER, None),
        ("UnknownCountryCode", FailureCause.INVALID_NUMBER, None),
        ("AllLinesInUse", FailureCause.CALL_FAILED, None),
        ("CallFailed", FailureCause.CALL_FAILED, None),
        ("CallerHungUp", FailureCause.CALL_FAILED, None),
        ("TooManyCallsPerLine", FailureCause.CALL_FAILED, None),
        ("ReturnToDBQueue", FailureCause.CALL_FAILED, None),
        ("InternalError", FailureCause.CALL_FAILED, None),
        ("RenderingFailed", FailureCause.DOCUMENT, None),
        ("TooManyPages", FailureCause.DOCUMENT, None),
        ("ConvertError", FailureCause.DOCUMENT, None),
        ("NoFaxSendPermission", FailureCause.REFUSED, None),
        ("NoInternationalPermission", FailureCause.REFUSED, None),
        ("NotEnoughCredits", FailureCause.REFUSED, None),
        ("ProhibitedNumber", FailureCause.REFUSED, None),
        ("ProhibitedDestination", FailureCause.REFUSED, None),
        ("FaxSendingProhibited", FailureCause.REFUSED, None),
        ("AccountSuspended", FailureCause.REFUSED, None),
        ("ThePhoneIsBlacklisted", FailureCause.REFUSED, None),
        ("Undefined", FailureCause.UNKNOWN, None),
    ],
)
def test_fax_error_codes_map_to_the_agreed_causes(code: str, cause: FailureCause, words: str | None) -> None:
    """The causes the core's retry policy keys on come out as agreed (busy, no answer, not a fax …)."""
    meaning = fax_error(code)
    assert meaning.cause is cause
    if words is not None:
        assert meaning.words == words


@pytest.mark.parametrize("code", [None, "", "SomethingNew"])
def test_missing_or_new_fax_error_code_is_unknown(code: str | None) -> None:
    """A failure without a code, or with one added after this table, is UNKNOWN, not a crash."""
    assert fax_error(code).cause is FailureCause.UNKNOWN
