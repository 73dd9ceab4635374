"""The official RingCentral Python SDK (`ringcentral` 0.9) against the stand-in: JWT login and faxing."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfWriter
from ringcentral import SDK
from ringcentral.http.api_exception import ApiException

from adapters.ringcentral.standin import RunningStandin, StandinConfig, start_standin
from tests.helpers.standin import FAX_PATH, STORE_PATH, load_schemas

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
FAX_OPERATION = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/fax"


@pytest.fixture
async def server() -> AsyncIterator[RunningStandin]:
    config = StandinConfig(
        delay_seconds=0.05, client_id="sdk-id", client_secret="sdk-secret", jwt="sdk.jwt.token"
    )
    async with await start_standin(config=config) as running:
        yield running


def two_page_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, format="JPEG")
    return out.getvalue()


def sdk_fax(url: str, *, mixed: bool) -> dict[str, Any]:
    """What a developer following RingCentral's demo_fax.py would run (synchronous, `requests`)."""
    sdk = SDK("sdk-id", "sdk-secret", url)
    platform = sdk.platform()
    platform.login(jwt="sdk.jwt.token")
    builder = sdk.create_multipart_builder()
    builder.set_body(
        {"to": [{"phoneNumber": "+12025550123"}], "faxResolution": "High", "coverPageText": "From the SDK"}
    )
    builder.add(("report.pdf", two_page_pdf(), "application/pdf"))
    builder.add(("photo.jpg", jpeg()))  # like the official send-fax.py sample: no part Content-Type
    builder.set_multipart_mixed(mixed)
    request = builder.request(FAX_PATH)
    sent: dict[str, Any] = platform.send_request(request).response().json()
    return sent


def sdk_read(url: str, message_id: int) -> dict[str, Any]:
    """Log in again, refresh once, and read a fax back through the SDK's own helpers."""
    sdk = SDK("sdk-id", "sdk-secret", url)
    platform = sdk.platform()
    platform.login(jwt="sdk.jwt.token")
    platform.refresh()
    record: dict[str, Any] = platform.get(f"{STORE_PATH}/{message_id}").response().json()
    platform.logout()
    return record


@pytest.mark.parametrize("mixed", [False, True], ids=["form-data", "multipart-mixed"])
async def test_official_sdk_logs_in_and_sends_a_fax(server: RunningStandin, mixed: bool) -> None:
    """The SDK's JWT login and multipart builder produce a fax the stand-in accepts, parts intact."""
    sent = await asyncio.to_thread(sdk_fax, server.url, mixed=mixed)
    load_schemas(SCHEMAS).check_operation(FAX_OPERATION, "post", 200, sent)
    assert sent["messageStatus"] == "Queued"
    assert (sent["faxResolution"], sent["coverPageText"]) == ("High", "From the SDK")
    (message,) = server.standin.messages
    assert message.style == ("mixed+json" if mixed else "form-data+json")
    assert [(d.name, d.filename, d.content_type) for d in message.documents] == [
        ("attachment", "report.pdf", "application/pdf"),
        ("attachment", "photo.jpg", ""),
    ]
    assert message.documents[0].data == two_page_pdf()
    await asyncio.sleep(0.15)
    record = await asyncio.to_thread(sdk_read, server.url, sent["id"])
    load_schemas(SCHEMAS).check("GetMessageInfoResponse", record)
    assert record["messageStatus"] == "Delivered"
    assert record["faxPageCount"] == 2 + 1 + 1  # the PDF, the photo, the default cover page


async def test_official_sdk_reports_a_refused_login(server: RunningStandin) -> None:
    """A JWT the stand-in was not configured with makes the SDK's login raise."""

    def bad_login() -> None:
        SDK("sdk-id", "sdk-secret", server.url).platform().login(jwt="someone.else.jwt")

    with pytest.raises(ApiException) as raised:
        await asyncio.to_thread(bad_login)
    answer = raised.value.api_response().response()
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
