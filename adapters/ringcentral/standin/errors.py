"""RingCentral's error bodies, as the stand-in raises and renders them.

Codes and messages come from RingCentral's published error table and from real responses;
where RingCentral documents none, the code used is the nearest documented one and says so
in a comment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class StandinError(Exception):
    """A refusal the stand-in answers with a RingCentral error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        outer_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        self.outer_code = outer_code or code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """`{errorCode, message, errors: [...]}`, as RingCentral repeats the first error on top."""
        inner: dict[str, Any] = {"errorCode": self.code, "message": self.message}
        if self.parameter:
            inner["parameterName"] = self.parameter
        outer: dict[str, Any] = {"errorCode": self.outer_code, "message": self.message, "errors": [inner]}
        if self.parameter:
            outer["parameterName"] = self.parameter
        return outer

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


class OAuthError(StandinError):
    """A refusal from the token endpoints: the OAuth `error` field on top of RingCentral's codes."""

    def __init__(self, status: int, error: str, code: str, message: str, **kwargs: Any) -> None:
        super().__init__(status, code, message, **kwargs)
        self.error = error

    def body(self) -> dict[str, Any]:
        inner: dict[str, Any] = {"errorCode": self.code, "message": self.message}
        if self.parameter:
            inner["parameterName"] = self.parameter
        return {"error": self.error, "error_description": self.message, "errors": [inner]}


def json_response(
    body: object, *, status: int = 200, headers: Mapping[str, str] | None = None, content_type: str = ""
) -> web.Response:
    """A JSON response; RingCentral sends `application/json;charset=UTF-8`."""
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(),
        status=status,
        headers={"Content-Type": content_type or "application/json;charset=UTF-8", **(headers or {})},
    )


def invalid(parameter: str, status: int = 400) -> StandinError:
    return StandinError(status, "CMN-101", f"Parameter [{parameter}] value is invalid", parameter=parameter)


def not_found(parameter: str) -> StandinError:
    return StandinError(
        404, "CMN-102", f"Resource for parameter [{parameter}] is not found", parameter=parameter
    )


def invalid_uri(status: int = 404) -> StandinError:
    return StandinError(status, "CMN-120", "Invalid URI")


def cannot_parse(status: int = 400) -> StandinError:
    return StandinError(status, "CMN-104", "Cannot parse request")


def rate_exceeded(headers: Mapping[str, str]) -> StandinError:
    return StandinError(429, "CMN-301", "Request rate exceeded", headers=headers)


def server_error(status: int) -> StandinError:
    if status == 500:
        return StandinError(500, "CMN-203", "Internal Server Error")
    return StandinError(status, "CMN-201", "Service Temporary Unavailable")


def missing_bearer() -> StandinError:
    # Observed live in 2026: no Authorization header answers AGW-401 (older answers said OAU-123).
    return StandinError(401, "AGW-401", "Authorization header is not specified")


def token_invalid() -> StandinError:
    # Observed live: a well-formed but unknown bearer answers TokenInvalid outside, OAU-149 inside.
    return StandinError(401, "OAU-149", "OAuth token is invalid", outer_code="TokenInvalid")


def token_expired() -> StandinError:
    # Documented as 401 OAU-128 ("Access token expired"); the live outer code is unknown.
    return StandinError(401, "OAU-128", "Access token expired")
