"""Sending a fax to the stand-in: the three multipart shapes, the JSON resend, and every refusal."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from pypdf import PdfWriter

from adapters.ringcentral.standin import RunningStandin, StandinConfig, start_standin
from tests.helpers.standin import (
    FAX_PATH,
    bearer,
    checked_client,
    envelope_files,
    load_schemas,
    login,
    wait_for_status,
)

SCHEMAS = Path(__file__).parents[1] / "data" / "ringcentral" / "openapi-fax-subset.yaml"
FAX_OPERATION = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/fax"
NUMBER = "+12025550123"
BOUNDARY = "faxbridge-test-boundary"


@pytest.fixture
async def server() -> AsyncIterator[RunningStandin]:
    async with await start_standin(config=StandinConfig(delay_seconds=0.05, heavy_limit=100)) as running:
        yield running


@pytest.fixture
async def client(server: RunningStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with checked_client(server.url, load_schemas(SCHEMAS), timeout=30) as http:
        yield http


@pytest.fixture
async def token(client: httpx.AsyncClient) -> dict[str, Any]:
    return await login(client)


def pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tiff(frames: int) -> bytes:
    images = [Image.new("1", (200, 100), color=i % 2) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="TIFF", save_all=True, append_images=images[1:])
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (20, 20)).save(out, format="PNG")
    return out.getvalue()


def multipart(
    subtype: str, parts: list[tuple[list[str], bytes]], *, newline_before_delimiter: bool = True
) -> tuple[str, bytes]:
    """A hand-built multipart body: each part is (header lines, bytes)."""
    chunks: list[bytes] = []
    for headers, data in parts:
        chunks.append(f"--{BOUNDARY}\r\n".encode())
        chunks.append("".join(f"{line}\r\n" for line in headers).encode() + b"\r\n")
        chunks.append(data + (b"\r\n" if newline_before_delimiter else b""))
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return f"multipart/{subtype}; boundary={BOUNDARY}", b"".join(chunks)


def envelope_part(envelope: dict[str, Any], *headers: str) -> tuple[list[str], bytes]:
    return [*headers, "Content-Type: application/json"], json.dumps(envelope).encode()


def file_part(
    filename: str, data: bytes, content_type: str | None = None, name: str = "attachment"
) -> tuple[list[str], bytes]:
    headers = [f'Content-Disposition: form-data; name="{name}"; filename="{filename}"']
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    return headers, data


async def send_raw(
    client: httpx.AsyncClient, token: dict[str, Any], content_type: str, body: bytes
) -> httpx.Response:
    return await client.post(FAX_PATH, content=body, headers={**bearer(token), "Content-Type": content_type})


def check_sent(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    load_schemas(SCHEMAS).check_operation(FAX_OPERATION, "post", 200, body)
    return body


async def test_sdk_style_envelope_with_attachments_is_queued(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A `json` envelope part then `attachment` files is accepted as RingCentral's Queued FaxResponse."""
    files = envelope_files(
        [NUMBER],
        [("report.pdf", pdf(3), "application/pdf"), ("photo.png", png(), "image/png")],
        coverIndex=7,
        coverPageText="Quarterly report",
        faxResolution="High",
    )
    response = await client.post(FAX_PATH, files=files, headers=bearer(token))
    body = check_sent(response)
    assert response.headers["X-Rate-Limit-Group"] == "heavy"
    assert body["messageStatus"] == "Queued"
    assert [(to["phoneNumber"], to["messageStatus"]) for to in body["to"]] == [(NUMBER, "Queued")]
    assert body["faxPageCount"] == 0
    assert (body["type"], body["direction"], body["availability"]) == ("Fax", "Outbound", "Alive")
    assert (body["readStatus"], body["priority"]) == ("Unread", "Normal")
    assert body["attachments"] == [
        {
            "id": body["id"],
            "uri": f"{body['uri']}/content/{body['id']}",
            "type": "RenderedDocument",
            "contentType": "application/pdf",
        }
    ]
    assert (body["coverIndex"], body["coverPageText"], body["faxResolution"]) == (
        7,
        "Quarterly report",
        "High",
    )
    (message,) = server.standin.messages
    assert message.style == "form-data+json"
    assert [(d.name, d.filename, d.content_type) for d in message.documents] == [
        ("attachment", "report.pdf", "application/pdf"),
        ("attachment", "photo.png", "image/png"),
    ]
    assert message.documents[1].data == png()


@pytest.mark.parametrize(
    "envelope_headers",
    [
        [
            'Content-Disposition: form-data; name="request.json"; filename="request.json"'
        ],  # ringcentral-extensible
        ['Content-Disposition: form-data; name="request.json"'],  # RingCentral.Net
        [],  # a bare JSON part with no disposition at all
    ],
)
async def test_envelope_part_is_found_whatever_its_name(
    client: httpx.AsyncClient, token: dict[str, Any], envelope_headers: list[str]
) -> None:
    """The JSON envelope is recognised by its type and position, not by its part name."""
    content_type, body = multipart(
        "form-data",
        [
            envelope_part({"to": [{"phoneNumber": NUMBER}]}, *envelope_headers),
            file_part("a.txt", b"hello", name="attachments"),
        ],
    )
    sent = check_sent(await send_raw(client, token, content_type, body))
    assert sent["to"][0]["phoneNumber"] == NUMBER


async def test_plain_form_fields_are_accepted(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """Form-data with text fields (`to` repeated, cover and resolution fields) and files is a fax."""
    fields = [("to", "+12025550123"), ("to", "(202) 555-0124"), ("coverIndex", "3"), ("coverPageText", "Hi")]
    files: list[tuple[str, Any]] = [(name, (None, value)) for name, value in fields]
    files += [("faxResolution", (None, "High")), ("attachment", ("a.txt", b"hello", "text/plain"))]
    body = check_sent(await client.post(FAX_PATH, files=files, headers=bearer(token)))
    assert [to["phoneNumber"] for to in body["to"]] == ["+12025550123", "+12025550124"]
    assert (body["coverIndex"], body["coverPageText"], body["faxResolution"]) == (3, "Hi", "High")
    assert server.standin.messages[0].style == "form-data"


async def test_multipart_mixed_is_accepted(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """multipart/mixed: a JSON first part with no disposition, then `attachment` dispositions."""
    content_type, body = multipart(
        "mixed",
        [
            envelope_part({"to": [{"phoneNumber": NUMBER, "name": "Ann"}], "coverIndex": 0}),
            (
                ['Content-Disposition: attachment; filename="fax.txt"', "Content-Type: text/plain"],
                b"page one",
            ),
            (['Content-Disposition: attachment; filename="scan.tif"'], tiff(2)),
        ],
    )
    sent = check_sent(await send_raw(client, token, content_type, body))
    assert sent["to"][0]["name"] == "Ann"
    (message,) = server.standin.messages
    assert message.style == "mixed+json"
    assert [d.filename for d in message.documents] == ["fax.txt", "scan.tif"]
    assert message.page_count == 3


async def test_file_parts_without_content_type_are_judged_by_name(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """A part with no Content-Type is judged by its extension; one with no extension by its declared type."""
    content_type, body = multipart(
        "form-data",
        [
            envelope_part({"to": [{"phoneNumber": NUMBER}]}, 'Content-Disposition: form-data; name="json"'),
            file_part("scan.PDF", pdf(1)),
            file_part("notes", pdf(1), "application/pdf"),
        ],
    )
    check_sent(await send_raw(client, token, content_type, body))


async def test_missing_line_break_before_delimiters_is_forgiven(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A body whose parts end right before `--boundary` (ringcentral-extensible's quirk) still parses."""
    content_type, body = multipart(
        "form-data",
        [
            envelope_part({"to": [{"phoneNumber": NUMBER}]}, 'Content-Disposition: form-data; name="json"'),
            file_part("a.txt", b"abc"),
        ],
        newline_before_delimiter=False,
    )
    check_sent(await send_raw(client, token, content_type, body))
    assert server.standin.messages[0].documents[0].data == b"abc"


async def test_page_count_appears_once_sent(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """faxPageCount is 0 while Queued, then counts PDF pages, TIFF frames, images, text and the cover."""
    documents = [
        ("a.pdf", pdf(3), "application/pdf"),
        ("b.tiff", tiff(2), "image/tiff"),
        ("c.png", png(), None),
        ("d.txt", b"text", "text/plain"),
    ]
    sent = check_sent(
        await client.post(
            FAX_PATH, files=envelope_files([NUMBER], documents, coverIndex=1), headers=bearer(token)
        )
    )
    record = await wait_for_status(client, token, sent["id"], ["Sent", "Delivered"])
    assert record["faxPageCount"] == 3 + 2 + 1 + 1 + 1


async def test_cover_only_fax_is_accepted_but_nothing_at_all_is_not(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """No files with a cover page is a fax; no files and coverIndex 0 is CMN-101 on attachment."""
    cover_only = await client.post(
        FAX_PATH, files=envelope_files([NUMBER], [], coverPageText="note"), headers=bearer(token)
    )
    check_sent(cover_only)
    empty = await client.post(
        FAX_PATH, files=envelope_files([NUMBER], [], coverIndex=0), headers=bearer(token)
    )
    assert empty.status_code == 400
    assert empty.json()["errors"][0] == {
        "errorCode": "CMN-101",
        "message": "Parameter [attachment] value is invalid",
        "parameterName": "attachment",
    }


async def test_resend_by_original_message_id(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin
) -> None:
    """A JSON body with originalMessageId resends the same documents, to new recipients if given."""
    original = check_sent(
        await client.post(
            FAX_PATH,
            files=envelope_files(["+12025550101"], [("a.pdf", pdf(2), "application/pdf")]),
            headers=bearer(token),
        )
    )
    failed = await wait_for_status(client, token, original["id"], ["SendingFailed"])
    assert failed["to"][0]["faxErrorCode"] == "LineBusy"
    again = check_sent(
        await client.post(FAX_PATH, json={"originalMessageId": str(original["id"])}, headers=bearer(token))
    )
    forward = check_sent(
        await client.post(
            FAX_PATH,
            json={"originalMessageId": str(original["id"]), "to": [{"phoneNumber": NUMBER}]},
            headers=bearer(token),
        )
    )
    assert again["id"] != original["id"]
    assert [to["phoneNumber"] for to in again["to"]] == ["+12025550101"]
    assert [to["phoneNumber"] for to in forward["to"]] == [NUMBER]
    resent = server.standin.message(again["id"])
    assert resent is not None and resent.resent_from == original["id"]
    assert resent.documents == server.standin.messages[0].documents


async def test_resend_of_a_fax_still_queued_is_refused(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """Resending a fax that is still Queued answers 406 MSG-343."""
    original = check_sent(
        await client.post(
            FAX_PATH, files=envelope_files([NUMBER], [("a.txt", b"x", None)]), headers=bearer(token)
        )
    )
    response = await client.post(
        FAX_PATH, json={"originalMessageId": str(original["id"])}, headers=bearer(token)
    )
    assert response.status_code == 406
    assert response.json()["errorCode"] == "MSG-343"


def _big(size: int) -> bytes:
    return b"%PDF-1.4\n" + b"0" * (size - 9)


MB = 1024 * 1024
Parts = list[tuple[list[str], bytes]]
REFUSALS: dict[str, tuple[Callable[[], Parts], int, str]] = {
    "unsupported type": (lambda: [file_part("clip.smil", b"<smil/>", "application/smil")], 415, "MSG-348"),
    "empty attachment": (lambda: [file_part("a.pdf", b"", "application/pdf")], 400, "MSG-347"),
    "no content disposition": (lambda: [(["Content-Type: application/pdf"], pdf(1))], 400, "MSG-350"),
    "no file name": (
        lambda: [
            (['Content-Disposition: form-data; name="attachment"', "Content-Type: application/pdf"], pdf(1))
        ],
        400,
        "MSG-351",
    ),
    "one file over 50 MB": (
        lambda: [file_part("a.pdf", _big(50 * MB + 1), "application/pdf")],
        400,
        "MSG-337",
    ),
    "files over 50 MB together": (
        lambda: [file_part(f"{i}.pdf", _big(26 * MB), "application/pdf") for i in (1, 2)],
        400,
        "MSG-338",
    ),
}


@pytest.mark.parametrize("label", list(REFUSALS))
async def test_attachment_refusals_use_ringcentral_codes(
    client: httpx.AsyncClient, token: dict[str, Any], server: RunningStandin, label: str
) -> None:
    """Each attachment RingCentral refuses is refused with its real status and error code."""
    make_files, status, code = REFUSALS[label]
    envelope = envelope_part({"to": [{"phoneNumber": NUMBER}]}, 'Content-Disposition: form-data; name="json"')
    content_type, body = multipart("form-data", [envelope, *make_files()])
    response = await send_raw(client, token, content_type, body)
    assert (response.status_code, response.json()["errorCode"]) == (status, code)
    assert response.json()["errors"][0]["errorCode"] == code
    load_schemas(SCHEMAS).check_response(
        "UnsupportedMediaType" if status == 415 else "InvalidRequest", response.json()
    )
    assert server.standin.messages == []


async def test_unsupported_type_names_the_attachment(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """The MSG-348 message says which attachment was refused, as RingCentral's does."""
    files = envelope_files(
        [NUMBER], [("ok.pdf", pdf(1), "application/pdf"), ("stuff.heic", b"x", "image/heic")]
    )
    response = await client.post(FAX_PATH, files=files, headers=bearer(token))
    assert response.status_code == 415
    assert response.json()["message"] == "Unsupported attachment media type, attachment [2]: [stuff.heic]"


ENVELOPE_REFUSALS: list[tuple[str, bytes, str | None]] = [
    ("not JSON", b"{to: nobody", None),
    ("a JSON list", b"[1, 2]", None),
    ("no recipient", json.dumps({"coverPageText": "x"}).encode(), "to"),
    ("implausible number", json.dumps({"to": [{"phoneNumber": "12"}]}).encode(), "to"),
    ("letters for a number", json.dumps({"to": ["call me"]}).encode(), "to"),
    (
        "cover text over 1024",
        json.dumps({"to": [NUMBER], "coverPageText": "x" * 1025}).encode(),
        "coverPageText",
    ),
    ("unknown resolution", json.dumps({"to": [NUMBER], "faxResolution": "Ultra"}).encode(), "faxResolution"),
    ("cover index out of range", json.dumps({"to": [NUMBER], "coverIndex": 99}).encode(), "coverIndex"),
]


@pytest.mark.parametrize(
    ("label", "envelope", "parameter"), ENVELOPE_REFUSALS, ids=[row[0] for row in ENVELOPE_REFUSALS]
)
async def test_envelope_refusals(
    client: httpx.AsyncClient, token: dict[str, Any], label: str, envelope: bytes, parameter: str | None
) -> None:
    """An unparsable envelope is MSG-349; a bad field is CMN-101 naming the parameter."""
    content_type, body = multipart(
        "form-data",
        [
            (['Content-Disposition: form-data; name="json"', "Content-Type: application/json"], envelope),
            file_part("a.txt", b"x"),
        ],
    )
    response = await send_raw(client, token, content_type, body)
    assert response.status_code == 400, label
    error = response.json()
    load_schemas(SCHEMAS).check_response("InvalidRequest", error)
    if parameter is None:
        assert error["errorCode"] == "MSG-349"
    else:
        assert (error["errorCode"], error["parameterName"]) == ("CMN-101", parameter)
        assert error["message"] == f"Parameter [{parameter}] value is invalid"


async def test_json_body_without_original_message_id_is_refused(
    client: httpx.AsyncClient, token: dict[str, Any]
) -> None:
    """A plain JSON fax body is read as a resend, so without originalMessageId it is CMN-101 (a common bug)."""
    response = await client.post(FAX_PATH, json={"to": [{"phoneNumber": NUMBER}]}, headers=bearer(token))
    assert response.status_code == 400
    body = response.json()
    load_schemas(SCHEMAS).check_response("InvalidRequest", body)
    assert body == {
        "errorCode": "CMN-101",
        "message": "Parameter [originalMessageId] value is invalid",
        "errors": [
            {
                "errorCode": "CMN-101",
                "message": "Parameter [originalMessageId] value is invalid",
                "parameterName": "originalMessageId",
            }
        ],
        "parameterName": "originalMessageId",
    }


async def test_body_over_55_mb_is_refused(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """A request body past RingCentral's 55 MB ceiling answers 413 before anything is parsed."""
    content_type, body = multipart("form-data", [file_part("a.pdf", _big(56 * MB), "application/pdf")])
    response = await send_raw(client, token, content_type, body)
    assert response.status_code == 413
    assert response.json()["errorCode"] == "MSG-338"


async def test_other_body_types_cannot_be_parsed(client: httpx.AsyncClient, token: dict[str, Any]) -> None:
    """A fax body that is neither multipart nor JSON answers 400 CMN-104."""
    response = await send_raw(client, token, "text/plain", b"to=+12025550123")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "CMN-104"


@pytest.mark.parametrize(
    ("account", "extension", "status"), [("400100001", "400100002", 200), ("~", "999", 404)]
)
async def test_numeric_account_and_extension_ids(
    client: httpx.AsyncClient, token: dict[str, Any], account: str, extension: str, status: int
) -> None:
    """The stand-in's own numeric ids work like `~`; another extension is not found."""
    path = f"/restapi/v1.0/account/{account}/extension/{extension}/fax"
    response = await client.post(
        path, files=envelope_files([NUMBER], [("a.txt", b"x", None)]), headers=bearer(token)
    )
    assert response.status_code == status
