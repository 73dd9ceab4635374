"""RingCentralProvider.submit: the multipart body, streaming, the answer and every way it can fail."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from adapters.ringcentral import RingCentralProvider
from bridge.errors import ProviderPermanent, ProviderTransient
from bridge.model import Envelope
from bridge.ports import FaxOutcome
from tests.helpers.standin import ManualClock
from tests.helpers.standin_client import (
    FAX_PATH,
    FakeStore,
    StandinRingCentral,
    error_response,
    fax_form_schema,
    make_fax,
    needs_spec,
    rate_limited,
    schema_errors,
    spec,
)

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 800 + b"\n%%EOF\n"  # ~200 KB: several 64 KB chunks
TIFF = b"II*\x00" + b"\x00\xff" * 5000


@pytest.fixture
def store(tmp_path: Path) -> FakeStore:
    return FakeStore(tmp_path)


async def test_body_is_json_envelope_then_each_document_in_order(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """The request is multipart/form-data: the JSON envelope part first, then the files in order."""
    cover = store.add("cover.pdf", "application/pdf", b"%PDF-1.4 cover")
    scan = store.add("scan.tiff", "image/tiff", TIFF)
    letter = store.add("letter.pdf", "application/pdf", PDF)
    await provider.submit(make_fax(store, cover, scan, letter))

    (request,) = fake.requests_to(FAX_PATH, "POST")
    assert request.request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    envelope, *files = fake.faxes[0]
    assert (envelope.name, envelope.filename, envelope.content_type) == (
        "json",
        "request.json",
        "application/json",
    )
    assert [(f.name, f.filename, f.content_type) for f in files] == [
        ("attachment", "cover.pdf", "application/pdf"),
        ("attachment", "scan.tiff", "image/tiff"),
        ("attachment", "letter.pdf", "application/pdf"),
    ]
    assert [f.data for f in files] == [b"%PDF-1.4 cover", TIFF, PDF]
    assert all(f.headers["content-disposition"].startswith("form-data;") for f in fake.faxes[0])


async def test_envelope_carries_number_resolution_and_cover(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """The envelope names the number, the resolution and the provider cover with its text."""
    doc = store.add("a.pdf", "application/pdf", PDF)
    envelope = Envelope(cover_index=7, cover_page_text="Für Frau Müller: 3 pages", resolution="Low")
    await provider.submit(make_fax(store, doc, to="+442079460958", envelope=envelope))

    sent = json.loads(fake.faxes[0][0].data)
    assert sent == {
        "to": [{"phoneNumber": "+442079460958"}],
        "faxResolution": "Low",
        "coverIndex": 7,
        "coverPageText": "Für Frau Müller: 3 pages",
    }


async def test_envelope_leaves_out_cover_fields_that_are_not_set(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """Without a cover index or text, the envelope omits them rather than sending nulls."""
    doc = store.add("a.pdf", "application/pdf", PDF)
    await provider.submit(make_fax(store, doc, envelope=Envelope()))
    assert json.loads(fake.faxes[0][0].data) == {
        "to": [{"phoneNumber": "+12025550123"}],
        "faxResolution": "High",
    }


@needs_spec
@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(),
        Envelope(cover_index=0),
        Envelope(cover_index=3, cover_page_text="Urgent", resolution="Low"),
    ],
)
async def test_envelope_matches_the_published_fax_schema(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore, envelope: Envelope
) -> None:
    """Every envelope we send validates against createFaxMessage's form schema (no unknown fields)."""
    doc = store.add("a.pdf", "application/pdf", PDF)
    await provider.submit(make_fax(store, doc, envelope=envelope))
    assert schema_errors(fax_form_schema(), json.loads(fake.faxes[0][0].data)) == []


async def test_documents_are_streamed_from_the_store_and_closed(
    provider: RingCentralProvider, store: FakeStore
) -> None:
    """Each document is read through open_document in bounded chunks, and every file is closed after."""
    docs = [store.add("a.pdf", "application/pdf", PDF), store.add("b.tiff", "image/tiff", TIFF)]
    await provider.submit(make_fax(store, *docs))

    assert len(store.opened) == 2
    assert all(handle.closed for handle in store.opened)
    big = store.opened[0]
    assert len([size for size in big.reads if size]) >= 3  # several chunks, not one slurp
    assert all(size is not None and 0 < size <= 64 * 1024 for size in big.reads)


async def test_files_are_closed_when_the_send_fails(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """A refused send still closes every document file."""
    fake.inject(FAX_PATH, error_response(415, "MSG-348", "Unsupported attachment media type"))
    with pytest.raises(ProviderPermanent):
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert store.opened and all(handle.closed for handle in store.opened)


async def test_success_returns_the_queued_fax(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore, clock: ManualClock
) -> None:
    """A 200 FaxResponse becomes a queued ProviderStatus with RingCentral's id, number and time."""
    status = await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    (message_id,) = fake.messages
    assert status.provider_id == message_id
    assert status.outcome is FaxOutcome.QUEUED
    assert status.to == "+12025550123"
    assert status.created == clock.wall()
    assert status.created is not None and status.created.tzinfo is not None


async def test_unsupported_file_type_is_permanent_with_plain_words(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """415 MSG-348 fails the fax for good with a reason a sender understands."""
    fake.inject(FAX_PATH, error_response(415, "MSG-348", "Unsupported attachment media type, attachment [1]"))
    with pytest.raises(ProviderPermanent) as caught:
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert caught.value.code == "MSG-348"
    assert "does not accept this file type" in caught.value.reason


async def test_bad_number_names_the_parameter(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """400 CMN-101 on `to` is permanent and says which value RingCentral refused."""
    fake.inject(FAX_PATH, error_response(400, "CMN-101", "Parameter [to] value is invalid", parameter="to"))
    with pytest.raises(ProviderPermanent) as caught:
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert caught.value.code == "CMN-101"
    assert "(to)" in caught.value.reason


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient_and_may_have_sent(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore, status: int
) -> None:
    """A 5xx answer to the fax POST is transient, and the server may have acted on it."""
    fake.inject(FAX_PATH, httpx.Response(status, text="<html>Bad gateway</html>"))
    with pytest.raises(ProviderTransient) as caught:
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert caught.value.may_have_sent is True


async def test_service_unavailable_passes_on_retry_after(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """503 with Retry-After tells the core how long to wait."""
    fake.inject(
        FAX_PATH,
        error_response(503, "CMN-201", "Service Temporary Unavailable", headers={"Retry-After": "17"}),
    )
    with pytest.raises(ProviderTransient) as caught:
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert caught.value.retry_after == 17


@pytest.mark.parametrize(
    ("error", "may_have_sent"),
    [
        (httpx.ReadTimeout("timed out"), True),
        (httpx.WriteTimeout("timed out"), True),
        (httpx.ReadError("connection reset by peer"), True),
        (httpx.RemoteProtocolError("server disconnected without sending a response"), True),
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.ConnectError("connection refused"), False),
    ],
)
async def test_network_failures_are_transient_and_say_whether_the_fax_may_be_out(
    provider: RingCentralProvider,
    fake: StandinRingCentral,
    store: FakeStore,
    error: Exception,
    may_have_sent: bool,
) -> None:
    """A failure after the body went out may have sent the fax; one while connecting cannot have."""
    fake.inject(FAX_PATH, error)
    with pytest.raises(ProviderTransient) as caught:
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert caught.value.may_have_sent is may_have_sent
    assert len(fake.requests_to(FAX_PATH)) == 1  # never retried blindly
    assert all(handle.closed for handle in store.opened)


async def test_unreadable_success_answer_may_have_sent(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """A 200 whose body is not a FaxResponse is transient with may_have_sent, so the core reconciles."""
    fake.inject(FAX_PATH, httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(ProviderTransient) as caught:
        await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert caught.value.may_have_sent is True


async def test_retry_after_expired_token_resends_the_whole_body(
    provider: RingCentralProvider, fake: StandinRingCentral, store: FakeStore
) -> None:
    """After a 401 OAU-128 the fax is sent again once, with complete file contents."""
    fake.inject(FAX_PATH, error_response(401, "OAU-128", "Access token expired"))
    await provider.submit(make_fax(store, store.add("a.pdf", "application/pdf", PDF)))
    assert len(fake.requests_to(FAX_PATH)) == 2
    assert fake.faxes[-1][1].data == PDF


def test_spec_copy_is_available() -> None:
    """The RingCentral OpenAPI subset is found, so the schema checks above really run."""
    if spec() is None:
        pytest.fail("tests/data/ringcentral/openapi-fax-subset.yaml is missing: the schema checks cannot run")
    assert "FaxResponse" in spec()["components"]["schemas"]  # type: ignore[index]


@needs_spec
def test_injected_error_bodies_match_the_error_model() -> None:
    """The error bodies tests put in place of an answer are valid RingCentral error documents."""
    body = error_response(400, "CMN-101", "Parameter [to] value is invalid", parameter="to").json()
    assert schema_errors("ParameterizedErrorResponseModel", body) == []
    assert schema_errors("ApiErrorResponseModel", rate_limited().json()) == []


@needs_spec
def test_schema_check_catches_a_wrong_document() -> None:
    """The schema check used by these tests does reject a document that breaks the spec."""
    assert schema_errors("FaxResponse", {"id": "not-a-number", "messageStatus": "Lost"})
    assert schema_errors(fax_form_schema(), {"to": [{"phoneNumber": "+1"}], "faxResolution": "Medium"})
