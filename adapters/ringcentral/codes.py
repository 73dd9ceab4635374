"""RingCentral error codes and fax error codes, translated into the bridge's errors and causes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.errors import ProviderError, ProviderPermanent, ProviderTransient
from bridge.ports import FailureCause


@dataclass(frozen=True)
class ApiCode:
    """One documented API error: the HTTP status it comes with, whether retrying can help, and why."""

    status: int
    transient: bool
    reason: str


def _p(status: int, reason: str) -> ApiCode:
    return ApiCode(status, False, reason)


def _t(status: int, reason: str) -> ApiCode:
    return ApiCode(status, True, reason)


_BAD_REQUEST = "RingCentral could not read the bridge's request"
_APP_LOGIN = "RingCentral refused the bridge's app credentials (client id or secret)"
_USER_LOGIN = "RingCentral refused the bridge's JWT credential"
_RATE = "RingCentral's request rate limit was reached"
_TOKEN = "RingCentral did not accept the bridge's access token"

# Sources: the error table RingCentral publishes for its REST API, and the codes its Fax API returns.
API_CODES: Mapping[str, ApiCode] = {
    # Fax sending.
    "MSG-337": _p(400, "a file is larger than RingCentral accepts (50 MB)"),
    "MSG-338": _p(400, "the fax is larger than RingCentral accepts (50 MB in all)"),
    "MSG-340": _p(403, "the RingCentral extension's type cannot send faxes"),
    "MSG-341": _p(403, "the RingCentral extension is not allowed to send faxes"),
    "MSG-343": _p(406, "RingCentral does not allow resending this fax in its current state"),
    "MSG-347": _p(400, "a file to fax is empty"),
    "MSG-348": _p(415, "RingCentral does not accept this file type"),
    "MSG-349": _p(400, "RingCentral could not read the fax request"),
    "MSG-350": _p(400, "RingCentral could not read the fax request (a file part was not labelled)"),
    "MSG-351": _p(400, "RingCentral could not read the fax request (a file had no name)"),
    "MSG-352": _t(500, "RingCentral lost the fax content on its side"),
    "CMN-419": _p(403, "the RingCentral app lacks the OutboundFaxes permission"),
    # General.
    "CMN-101": _p(400, "RingCentral refused a value in the request"),
    "CMN-102": _p(404, "RingCentral does not know this fax"),
    "CMN-103": _p(400, _BAD_REQUEST),
    "CMN-104": _p(400, _BAD_REQUEST),
    "CMN-105": _p(400, _BAD_REQUEST),
    "CMN-106": _p(400, "RingCentral refused a request for too many faxes at once"),
    "CMN-108": _p(400, _BAD_REQUEST),
    "CMN-109": _p(403, "the RingCentral account does not have this feature"),
    "CMN-110": _p(400, _BAD_REQUEST),
    "CMN-120": _p(404, "RingCentral does not know this address; check the server URL"),
    "CMN-201": _t(500, "RingCentral is temporarily unavailable"),
    "CMN-202": _p(501, "RingCentral does not support this operation"),
    "CMN-203": _t(500, "RingCentral had an internal error"),
    "CMN-401": _p(403, "the RingCentral app lacks a permission it needs (Faxes, ReadMessages)"),
    "CMN-402": _p(403, "RingCentral requires administrator permission for this"),
    "CMN-403": _p(403, "the RingCentral extension's type does not have this feature"),
    "CMN-404": _p(403, "the RingCentral login may not act for another extension"),
    "CMN-405": _p(401, "the RingCentral credential does not log in to a user extension"),
    "CMN-406": _p(400, _BAD_REQUEST),
    "CMN-407": _p(400, _BAD_REQUEST),
    "CMN-408": _p(403, "the RingCentral user lacks a permission it needs (OutboundFaxes)"),
    # Rate limits (429): the limiter waits out Retry-After before anything else is sent.
    "CMN-301": _t(429, _RATE),
    "CMN-302": _t(429, _RATE),
    "CMN-303": _t(429, _RATE),
    "CMN-304": _t(429, "RingCentral refused a duplicate concurrent request"),
    "CMN-310": _t(429, _RATE),
    "MSG-305": _t(429, _RATE),
    # Access tokens: retried once with a new token; if it happens again, later may work.
    "OAU-128": _t(401, _TOKEN),
    "OAU-129": _t(401, _TOKEN),
    "OAU-149": _t(401, _TOKEN),
    # Login.
    "OAU-101": _p(403, "RingCentral refused the bridge's login (brand)"),
    "OAU-102": _p(403, "RingCentral refused the bridge's login"),
    "OAU-105": _p(403, "RingCentral does not allow this extension's type to log in"),
    "OAU-106": _p(403, "RingCentral refused the bridge's login"),
    "OAU-108": _p(403, "RingCentral refused the bridge's login"),
    "OAU-109": _p(403, "RingCentral refused the bridge's login"),
    "OAU-110": _p(403, "RingCentral refused the bridge's login"),
    "OAU-111": _p(400, _BAD_REQUEST),
    "OAU-112": _p(403, "the RingCentral app may not use the JWT grant; enable it in the Developer Console"),
    "OAU-113": _p(403, "RingCentral refused the bridge's login"),
    "OAU-116": _p(403, "RingCentral refused the bridge's login method"),
    "OAU-117": _p(403, "RingCentral refused the bridge's login (scope)"),
    "OAU-119": _p(403, "RingCentral does not allow this number to log in"),
    "OAU-120": _p(401, _APP_LOGIN),
    "OAU-121": _p(401, _APP_LOGIN),
    "OAU-123": _p(401, _APP_LOGIN),
    "OAU-125": _p(401, "the RingCentral app may not use the JWT grant; enable it in the Developer Console"),
    "OAU-127": _p(401, "the RingCentral app's release is not valid for this server"),
    "OAU-134": _p(401, _APP_LOGIN),
    "OAU-136": _p(401, "the RingCentral extension of the JWT credential was not found"),
    "OAU-140": _p(401, _USER_LOGIN),
    "OAU-141": _p(401, "the RingCentral extension cannot log in in its current state"),
    "OAU-142": _p(401, "the RingCentral account cannot log in in its current state"),
    "OAU-146": _p(401, _APP_LOGIN),
    "OAU-147": _p(400, "the RingCentral account is locked after failed logins"),
    "OAU-148": _p(400, "the RingCentral account is locked after failed logins"),
    "OAU-150": _p(400, _BAD_REQUEST),
    "OAU-151": _p(401, "RingCentral refused the bridge's login method"),
    "OAU-153": _p(400, _APP_LOGIN),  # "Invalid client": an unknown client id, or the wrong secret
    "OAU-168": _p(401, "RingCentral requires multi-factor login; use a JWT credential"),
    # Subscriptions (webhooks).
    "SUB-505": _p(403, "the RingCentral user has too many subscriptions (30)"),
    "SUB-507": _p(404, "the RingCentral subscription has expired"),
    "SUB-508": _p(400, "RingCentral refused the subscription's event filters"),
    "SUB-525": _p(400, "RingCentral could not validate the webhook URL"),
}

# OAuth answers that only carry an RFC 6749 `error` (no errorCode).
OAUTH_ERRORS: Mapping[str, ApiCode] = {
    "invalid_request": _p(400, _BAD_REQUEST),
    "invalid_client": _p(401, _APP_LOGIN),
    "invalid_grant": _p(400, _USER_LOGIN),
    "unauthorized_client": _p(400, "the RingCentral app may not use the JWT grant"),
    "unsupported_grant_type": _p(400, "the RingCentral app may not use the JWT grant"),
    "invalid_scope": _p(400, "RingCentral refused the permissions the bridge asked for"),
    "access_denied": _p(403, "RingCentral denied the bridge's login"),
    "insufficient_scope": _p(403, "the RingCentral app lacks a permission it needs"),
    "expired_token": _p(400, _USER_LOGIN),
}


@dataclass(frozen=True)
class FaxError:
    """What a fax-level failure means, in the core's terms and in words a sender understands."""

    cause: FailureCause
    words: str


_C = FailureCause
# FaxErrorCodeEnum of the spec (a copy is in tests/data/ringcentral/openapi-fax-subset.yaml).
FAX_ERRORS: Mapping[str, FaxError] = {
    "AllLinesInUse": FaxError(_C.CALL_FAILED, "all lines were in use"),
    "Undefined": FaxError(_C.UNKNOWN, "the fax failed and RingCentral did not say why"),
    "NoFaxSendPermission": FaxError(_C.REFUSED, "the RingCentral user may not send faxes"),
    "NoInternationalPermission": FaxError(_C.REFUSED, "the RingCentral user may not fax abroad"),
    "NoFaxMachine": FaxError(_C.NO_FAX_MACHINE, "the number is not a fax machine"),
    "NoAnswer": FaxError(_C.NO_ANSWER, "no one answered"),
    "LineBusy": FaxError(_C.LINE_BUSY, "the line was busy"),
    "CallerHungUp": FaxError(_C.CALL_FAILED, "the call was hung up"),
    "NotEnoughCredits": FaxError(_C.REFUSED, "the RingCentral account has not enough credit"),
    # Retrying would send the first pages twice, so this is not a plain call failure.
    "SentPartially": FaxError(_C.UNKNOWN, "only part of the fax went through"),
    "InternationalCallingDisabled": FaxError(_C.REFUSED, "international calls are turned off"),
    "DestinationCountryDisabled": FaxError(_C.REFUSED, "faxes to that country are turned off"),
    "UnknownCountryCode": FaxError(_C.INVALID_NUMBER, "the number's country code is unknown"),
    "NotAccepted": FaxError(_C.REFUSED, "the receiving side did not accept the fax"),
    "InvalidNumber": FaxError(_C.INVALID_NUMBER, "the number is not valid"),
    "CallDeclined": FaxError(_C.REFUSED, "the call was declined"),
    "TooManyCallsPerLine": FaxError(_C.CALL_FAILED, "the line had too many calls"),
    "CallFailed": FaxError(_C.CALL_FAILED, "the call failed"),
    "RenderingFailed": FaxError(_C.DOCUMENT, "RingCentral could not render the document"),
    "TooManyPages": FaxError(_C.DOCUMENT, "the fax has too many pages"),
    "ReturnToDBQueue": FaxError(_C.CALL_FAILED, "RingCentral put the fax back in its queue"),
    "NoCallTime": FaxError(_C.REFUSED, "the RingCentral account has no call time left"),
    "WrongNumber": FaxError(_C.INVALID_NUMBER, "the number is wrong"),
    "ProhibitedNumber": FaxError(_C.REFUSED, "RingCentral does not allow faxes to this number"),
    "InternalError": FaxError(_C.CALL_FAILED, "RingCentral had an internal error"),
    "FaxSendingProhibited": FaxError(_C.REFUSED, "fax sending is prohibited for the RingCentral account"),
    "ThePhoneIsBlacklisted": FaxError(_C.REFUSED, "the number is blocked"),
    "UserNotFound": FaxError(_C.REFUSED, "RingCentral did not find the sending user"),
    "ConvertError": FaxError(_C.DOCUMENT, "RingCentral could not convert the document"),
    "DBGeneralError": FaxError(_C.UNKNOWN, "RingCentral had a database error"),
    "SkypeBillingFailed": FaxError(_C.REFUSED, "RingCentral's billing for the call failed"),
    "AccountSuspended": FaxError(_C.REFUSED, "the RingCentral account is suspended"),
    "ProhibitedDestination": FaxError(_C.REFUSED, "RingCentral does not allow faxes to this destination"),
    "InternationalDisabled": FaxError(_C.REFUSED, "international faxing is turned off"),
}


def fax_error(code: str | None) -> FaxError:
    """The meaning of a `faxErrorCode`; unknown or missing codes give UNKNOWN."""
    if code and code in FAX_ERRORS:
        return FAX_ERRORS[code]
    return FaxError(_C.UNKNOWN, "the fax failed and RingCentral did not say why")


def error_code(body: Any) -> str | None:
    """The `errorCode` of an error body (top level, else the first of `errors`), else OAuth's `error`."""
    if not isinstance(body, dict):
        return None
    code = body.get("errorCode")
    errors = body.get("errors")
    if not code and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("errorCode")
    if not code:
        code = body.get("error")
    return code if isinstance(code, str) and code else None


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds, if it is a number."""
    try:
        value = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None


def _parameter(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    name = (body.get("parameterName") if isinstance(body, dict) else None) or first.get("parameterName")
    return name if isinstance(name, str) else ""


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_from_response(
    response: httpx.Response, *, sends: bool, redact: Callable[[str], str] = lambda s: s
) -> ProviderError:
    """Translate an unsuccessful answer: the error code decides, the HTTP status when it is unknown.

    `sends` marks a request with effects (the fax POST): after a 5xx it may still have acted.
    """
    status = response.status_code
    body = _body(response)
    code = error_code(body)
    known = API_CODES.get(code or "") or OAUTH_ERRORS.get(code or "")
    wait = retry_after(response)
    if status == 429:
        reason = known.reason if known else _RATE
        return ProviderTransient(_words(reason, code), retry_after=wait, may_have_sent=False)
    if known is not None:
        reason = known.reason
        if code == "CMN-101" and (param := _parameter(body)):
            reason = f"{reason} ({param})"
        if known.transient:
            return ProviderTransient(
                _words(reason, code), retry_after=wait, may_have_sent=sends and status >= 500
            )
        return ProviderPermanent(_words(reason, code), code=code)
    if status >= 500:
        reason = f"RingCentral had trouble on its side (HTTP {status})"
        return ProviderTransient(_words(reason, code), retry_after=wait, may_have_sent=sends)
    if status == 408:
        return ProviderTransient(_words("RingCentral timed out", code), may_have_sent=sends)
    message = _message(body)
    reason = f"RingCentral refused the request (HTTP {status}{': ' + message if message else ''})"
    return ProviderPermanent(_words(redact(reason), code), code=code)


def _message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    text = body.get("message") or body.get("error_description") or ""
    return text[:200] if isinstance(text, str) else ""


def _words(reason: str, code: str | None) -> str:
    return f"{reason} [{code}]" if code else reason


def transport_error(exc: httpx.HTTPError, *, sends: bool) -> ProviderTransient:
    """Translate a network failure; only one before the request left can rule out a sent fax."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ProxyError):
        return ProviderTransient(f"could not reach RingCentral ({type(exc).__name__})", may_have_sent=False)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ProviderTransient(f"could not talk to RingCentral ({type(exc).__name__})", may_have_sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTransient(
            f"RingCentral did not answer in time ({type(exc).__name__})", may_have_sent=sends
        )
    return ProviderTransient(
        f"the connection to RingCentral broke ({type(exc).__name__})", may_have_sent=sends
    )
