"""The stand-in's OAuth: grants, single-use refresh tokens, client authentication, bearer checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.ringcentral.standin import Standin, StandinConfig, start_standin
from adapters.ringcentral.standin.auth import JWT_GRANT
from tests.helpers.standin import (
    STORE_PATH,
    TOKEN_PATH,
    ManualClock,
    bearer,
    checked_client,
    load_schemas,
    login,
)

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    config = StandinConfig(
        client_id="app-id", client_secret="app-secret", jwt="the.jwt.credential", token_ttl=600
    )
    async with (
        await start_standin(standin=Standin(config, clock=clock)) as running,
        checked_client(running.url, load_schemas(SCHEMAS)) as http,
    ):
        yield http


async def _jwt_login(client: httpx.AsyncClient) -> dict[str, Any]:
    return await login(client, client_id="app-id", secret="app-secret", jwt="the.jwt.credential")


async def test_jwt_grant_answers_a_valid_token_info(client: httpx.AsyncClient) -> None:
    """A JWT-bearer grant with Basic client credentials returns a schema-valid TokenInfo."""
    response = await client.post(
        TOKEN_PATH,
        data={"grant_type": JWT_GRANT, "assertion": "the.jwt.credential"},
        auth=("app-id", "app-secret"),
    )
    assert response.status_code == 200
    token = response.json()
    load_schemas(SCHEMAS).check_operation("/restapi/oauth/token", "post", 200, token)
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 600
    assert token["refresh_token"] and token["owner_id"] == "400100002"
    assert response.headers["X-Rate-Limit-Group"] == "auth"


async def test_bearer_token_opens_the_message_store(client: httpx.AsyncClient) -> None:
    """The access token from a grant is accepted on API calls, by header or by query parameter."""
    token = await _jwt_login(client)
    assert (await client.get(STORE_PATH, headers=bearer(token))).status_code == 200
    assert (await client.get(STORE_PATH, params={"access_token": token["access_token"]})).status_code == 200


async def test_refresh_token_is_single_use(client: httpx.AsyncClient) -> None:
    """A refresh token works once; reusing it is refused with invalid_grant OAU-211."""
    token = await _jwt_login(client)
    form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    first = await client.post(TOKEN_PATH, data=form, auth=("app-id", "app-secret"))
    assert first.status_code == 200
    assert first.json()["access_token"] != token["access_token"]
    again = await client.post(TOKEN_PATH, data=form, auth=("app-id", "app-secret"))
    assert again.status_code == 400
    body = again.json()
    load_schemas(SCHEMAS).check_operation("/restapi/oauth/token", "post", 400, body)
    assert body["error"] == "invalid_grant"
    assert body["errors"][0]["errorCode"] == "OAU-211"


async def test_refresh_retires_the_old_access_token(client: httpx.AsyncClient) -> None:
    """After a refresh the previous access token answers 401 OAU-128 and the new one works."""
    token = await _jwt_login(client)
    fresh = (
        await client.post(
            TOKEN_PATH,
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=("app-id", "app-secret"),
        )
    ).json()
    old = await client.get(STORE_PATH, headers=bearer(token))
    assert old.status_code == 401
    assert old.json()["errors"][0]["errorCode"] == "OAU-128"
    assert (await client.get(STORE_PATH, headers=bearer(fresh))).status_code == 200


async def test_token_request_without_basic_auth_is_refused(client: httpx.AsyncClient) -> None:
    """No client authentication answers 400 invalid_client OAU-123."""
    response = await client.post(
        TOKEN_PATH, data={"grant_type": JWT_GRANT, "assertion": "the.jwt.credential"}
    )
    assert response.status_code == 400
    body = response.json()
    load_schemas(SCHEMAS).check_operation("/restapi/oauth/token", "post", 400, body)
    assert body == {
        "error": "invalid_client",
        "error_description": "Client authentication is required",
        "errors": [{"errorCode": "OAU-123", "message": "Client authentication is required"}],
    }


async def test_wrong_client_secret_is_refused(client: httpx.AsyncClient) -> None:
    """Basic credentials that differ from the configured ones answer invalid_client OAU-153."""
    response = await client.post(
        TOKEN_PATH, data={"grant_type": JWT_GRANT, "assertion": "the.jwt.credential"}, auth=("app-id", "nope")
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"
    assert response.json()["errors"][0]["errorCode"] == "OAU-153"


async def test_jwt_grant_checks_the_assertion(client: httpx.AsyncClient) -> None:
    """A missing assertion is invalid_request; one that differs from the configured JWT is invalid_grant."""
    auth = ("app-id", "app-secret")
    missing = await client.post(TOKEN_PATH, data={"grant_type": JWT_GRANT}, auth=auth)
    wrong = await client.post(
        TOKEN_PATH, data={"grant_type": JWT_GRANT, "assertion": "other.jwt.x"}, auth=auth
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    for response in (missing, wrong):
        load_schemas(SCHEMAS).check_operation("/restapi/oauth/token", "post", 400, response.json())


async def test_password_grant_is_still_accepted(client: httpx.AsyncClient) -> None:
    """The deprecated password grant (older SDK flows) still yields a token."""
    response = await client.post(
        TOKEN_PATH,
        data={"grant_type": "password", "username": "+16505550100", "password": "pw"},
        auth=("app-id", "app-secret"),
    )
    assert response.status_code == 200
    load_schemas(SCHEMAS).check("TokenInfo", response.json())


async def test_unknown_grant_type_is_unauthorized(client: httpx.AsyncClient) -> None:
    """A grant type the stand-in does not offer answers unauthorized_client OAU-251."""
    response = await client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=("app-id", "app-secret")
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["errorCode"] == "OAU-251"


async def test_access_token_expires_after_its_ttl(client: httpx.AsyncClient, clock: ManualClock) -> None:
    """Once expires_in has passed the token answers 401 OAU-128, and a refresh brings a working one."""
    token = await _jwt_login(client)
    clock.now += 601
    expired = await client.get(STORE_PATH, headers=bearer(token))
    assert expired.status_code == 401
    load_schemas(SCHEMAS).check_response("Unauthorized", expired.json())
    assert expired.json()["errorCode"] == "OAU-128"
    refreshed = await client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("app-id", "app-secret"),
    )
    assert (await client.get(STORE_PATH, headers=bearer(refreshed.json()))).status_code == 200


async def test_missing_and_garbage_bearer_tokens_are_told_apart(client: httpx.AsyncClient) -> None:
    """No Authorization header answers AGW-401; an unknown token answers TokenInvalid with OAU-149 inside."""
    missing = await client.get(STORE_PATH)
    garbage = await client.get(STORE_PATH, headers={"Authorization": "Bearer not-a-token"})
    assert missing.status_code == garbage.status_code == 401
    for response in (missing, garbage):
        load_schemas(SCHEMAS).check_response("Unauthorized", response.json())
    assert missing.json()["errorCode"] == "AGW-401"
    assert garbage.json()["errorCode"] == "TokenInvalid"
    assert garbage.json()["errors"][0]["errorCode"] == "OAU-149"


async def test_revoke_ends_the_whole_session(client: httpx.AsyncClient) -> None:
    """Revoking the access token also kills its refresh token."""
    token = await _jwt_login(client)
    revoked = await client.post(
        "/restapi/oauth/revoke", data={"token": token["access_token"]}, auth=("app-id", "app-secret")
    )
    assert revoked.status_code == 200
    assert (await client.get(STORE_PATH, headers=bearer(token))).status_code == 401
    refresh = await client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("app-id", "app-secret"),
    )
    assert refresh.status_code == 400


async def test_checking_client_rejects_an_answer_outside_the_schema() -> None:
    """The schema hook the stand-in tests rely on does fail on a TokenInfo missing session_id."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"access_token": "x", "token_type": "bearer", "expires_in": 1, "scope": ""}
        )

    transport = httpx.MockTransport(answer)
    async with checked_client("http://standin.test", load_schemas(SCHEMAS), transport=transport) as http:
        with pytest.raises(AssertionError, match="session_id"):
            await http.post(TOKEN_PATH, data={"grant_type": JWT_GRANT})
