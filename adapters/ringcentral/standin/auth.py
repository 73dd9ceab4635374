"""OAuth for the stand-in: client authentication, grants, sessions and bearer checks.

A grant opens a session holding one access token and one refresh token. A refresh
replaces both (the old access token stops working at once, the old refresh token is
spent); a revoke ends the whole session, as RingCentral's docs describe.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.ringcentral.standin.errors import (
    OAuthError,
    missing_bearer,
    token_expired,
    token_invalid,
)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "Faxes ReadMessages SubscriptionWebhook"


@dataclass
class Session:
    """One login: the live access and refresh tokens, with their expiry times."""

    id: str
    access_token: str
    access_expires: float
    refresh_token: str
    refresh_expires: float
    endpoint_id: str
    revoked: bool = False


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What the token endpoint checks; None accepts any non-empty value."""

    client_id: str | None = None
    client_secret: str | None = None
    jwt: str | None = None


class TokenStore:
    """Sessions by token, with the grants that create and refresh them."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        owner_id: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float],
    ) -> None:
        self._credentials = credentials
        self._owner_id = owner_id
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._clock = clock
        self._by_access: dict[str, Session] = {}
        self._by_refresh: dict[str, Session] = {}
        self._retired: set[str] = set()

    def grant(self, authorization: str | None, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer `POST /restapi/oauth/token` with a `TokenInfo` body, or raise an OAuth error."""
        self.authenticate_client(authorization, form)
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_GRANT:
            self._check_assertion(form.get("assertion", ""))
            session = self._open(form)
        elif grant_type == "password":
            if not form.get("username") or not form.get("password"):
                raise OAuthError(400, "invalid_grant", "OAU-140", "Invalid resource owner credentials")
            session = self._open(form)
        elif grant_type == "refresh_token":
            session = self._refresh(form.get("refresh_token", ""), form)
        else:
            raise OAuthError(400, "unauthorized_client", "OAU-251", "Unauthorized for this grant type")
        return self._token_info(session)

    def revoke(self, authorization: str | None, form: Mapping[str, str]) -> None:
        """End the session the given access or refresh token belongs to; unknown tokens are ignored."""
        self.authenticate_client(authorization, form)
        token = form.get("token", "")
        session = self._by_access.get(token) or self._by_refresh.get(token)
        if session is not None:
            session.revoked = True
            self._forget(session)

    def spend_refresh(self, refresh_token: str) -> None:
        """Make a refresh token unusable, as when RingCentral refuses a refresh (fault injection)."""
        session = self._by_refresh.get(refresh_token)
        if session is not None:
            self._forget(session)

    def check_bearer(self, authorization: str | None, query_token: str | None) -> Session:
        """The session of a valid bearer token, or the 401 RingCentral gives."""
        token = query_token
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise token_invalid()
            token = value.strip()
        if not token:
            raise missing_bearer()
        session = self._by_access.get(token)
        if session is None:
            raise token_expired() if token in self._retired else token_invalid()
        if session.revoked or session.access_expires <= self._clock():
            raise token_expired()
        return session

    def expire_all(self) -> None:
        """Make every access token expired now; refresh tokens stay usable."""
        now = self._clock()
        for session in self._by_access.values():
            session.access_expires = min(session.access_expires, now)

    def authenticate_client(self, authorization: str | None, form: Mapping[str, str]) -> None:
        """Check `client_secret_basic` credentials (or a bare `client_id` when no secret is configured)."""
        if not authorization:
            if form.get("client_id") and self._credentials.client_secret is None:
                self._check_client(form["client_id"], None)
                return
            raise OAuthError(400, "invalid_client", "OAU-123", "Client authentication is required")
        scheme, _, value = authorization.partition(" ")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, colon, client_secret = decoded.partition(":")
        if scheme.lower() != "basic" or not colon or not client_id:
            raise OAuthError(
                400,
                "invalid_client",
                "OAU-123",
                "Invalid Authorization header value",
                headers={"WWW-Authenticate": 'Basic realm="RingCentral REST API"'},
            )
        self._check_client(client_id, client_secret)

    def _check_client(self, client_id: str, client_secret: str | None) -> None:
        expected = self._credentials
        wrong_id = expected.client_id is not None and client_id != expected.client_id
        wrong_secret = expected.client_secret is not None and client_secret != expected.client_secret
        if wrong_id or wrong_secret:
            raise OAuthError(
                400,
                "invalid_client",
                "OAU-153",
                f"Invalid client: {client_id}",
                headers={"WWW-Authenticate": 'Bearer realm="RingCentral REST API", error="invalid_client"'},
            )

    def _check_assertion(self, assertion: str) -> None:
        if not assertion:
            raise OAuthError(
                400,
                "invalid_request",
                "CMN-101",
                "Parameter [assertion] value is invalid",
                parameter="assertion",
            )
        if self._credentials.jwt is not None and assertion != self._credentials.jwt:
            raise OAuthError(400, "invalid_grant", "OAU-140", "Invalid resource owner credentials")

    def _open(self, form: Mapping[str, str]) -> Session:
        session = Session(
            id=secrets.token_hex(8),
            access_token="",
            access_expires=0.0,
            refresh_token="",
            refresh_expires=0.0,
            endpoint_id=form.get("endpoint_id") or secrets.token_urlsafe(16),
        )
        self._issue(session, form)
        return session

    def _refresh(self, refresh_token: str, form: Mapping[str, str]) -> Session:
        session = self._by_refresh.get(refresh_token)
        if session is None or session.revoked or session.refresh_expires <= self._clock():
            # OAU-211 "Token revoked" is what RingCentral answers a spent refresh token.
            raise OAuthError(400, "invalid_grant", "OAU-211", "Token revoked")
        self._forget(session)
        self._issue(session, form)
        return session

    def _issue(self, session: Session, form: Mapping[str, str]) -> None:
        now = self._clock()
        session.access_token = secrets.token_urlsafe(32)
        session.refresh_token = secrets.token_urlsafe(32)
        session.access_expires = now + _ttl(form.get("access_token_ttl"), self._access_ttl)
        session.refresh_expires = now + _ttl(form.get("refresh_token_ttl"), self._refresh_ttl)
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session

    def _forget(self, session: Session) -> None:
        """Retire the session's current tokens: later use reads as expired, not as unknown."""
        self._by_access.pop(session.access_token, None)
        self._by_refresh.pop(session.refresh_token, None)
        self._retired.update((session.access_token, session.refresh_token))

    def _token_info(self, session: Session) -> dict[str, Any]:
        now = self._clock()
        return {
            "access_token": session.access_token,
            "token_type": "bearer",
            "expires_in": max(0, round(session.access_expires - now)),
            "refresh_token": session.refresh_token,
            "refresh_token_expires_in": max(0, round(session.refresh_expires - now)),
            "scope": SCOPE,
            "owner_id": self._owner_id,
            "endpoint_id": session.endpoint_id,
            "session_id": session.id,
        }


def _ttl(requested: str | None, configured: int) -> int:
    """The client may ask for a shorter lifetime than configured, never a longer one."""
    try:
        asked = int(requested or configured)
    except ValueError:
        return configured
    return max(1, min(asked, configured))
