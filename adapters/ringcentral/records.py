"""Fax answers and message-store records (single, 207 multi-status, list pages) read into ProviderStatus."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import phonenumbers

from adapters.ringcentral.codes import fax_error
from bridge.ports import FaxOutcome, ProviderStatus

OUTCOMES: Mapping[str, FaxOutcome] = {
    "Queued": FaxOutcome.QUEUED,
    "Sent": FaxOutcome.SENT,
    "Delivered": FaxOutcome.DELIVERED,
    "SendingFailed": FaxOutcome.FAILED,
    "DeliveryFailed": FaxOutcome.FAILED,
}
FAILED = ("SendingFailed", "DeliveryFailed")


def to_status(record: Mapping[str, Any], *, like: str = "") -> ProviderStatus:
    """One fax record (a FaxResponse or a message-store record) as a ProviderStatus.

    `like` is an E.164 number whose country fills in for recorded numbers without one.
    """
    recipients = [r for r in record.get("to") or [] if isinstance(r, dict)]
    status = record.get("messageStatus") or (recipients[0].get("messageStatus") if recipients else None)
    # An unknown status is not final: keep following the fax rather than guess an end.
    outcome = OUTCOMES.get(str(status), FaxOutcome.QUEUED)
    recipient = next((r for r in recipients if r.get("messageStatus") in FAILED), None)
    recipient = recipient or (recipients[0] if recipients else {})
    number = str(recipient.get("phoneNumber") or "")
    cause, detail = None, str(status or "")
    if outcome is FaxOutcome.FAILED:
        code = recipient.get("faxErrorCode")
        meaning = fax_error(code if isinstance(code, str) else None)
        cause = meaning.cause
        detail = f"{meaning.words} ({code})" if code else meaning.words
    return ProviderStatus(
        provider_id=str(record["id"]),
        outcome=outcome,
        to=e164(number, like=like),
        created=parse_time(record.get("creationTime")),
        pages=int(record.get("faxPageCount") or 0),
        cause=cause,
        detail=detail,
    )


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from RingCentral ('2016-03-10T18:07:52.534Z'), timezone-aware."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """A time the way RingCentral writes it, in UTC with milliseconds."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def e164(number: str, like: str = "") -> str:
    """`number` in E.164; message-store numbers may lack the '+' or carry formatting.

    `like` is a number in E.164 whose country is assumed when `number` has none.
    """
    parsed = _parse(number, like)
    if parsed is None or not (number.startswith("+") or phonenumbers.is_valid_number(parsed)):
        return number.strip()  # keep what RingCentral wrote rather than a wrong guess
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def same_number(recorded: str, wanted: str) -> bool:
    """Whether a message-store number is the E.164 number `wanted`."""
    mine, theirs = _parse(wanted, ""), _parse(recorded, wanted)
    if mine is None or theirs is None:
        return False
    return (mine.country_code, mine.national_number) == (theirs.country_code, theirs.national_number)


def _parse(number: str, like: str) -> phonenumbers.PhoneNumber | None:
    try:
        country = (phonenumbers.parse(like, None).country_code or 1) if like else 1
        region = phonenumbers.region_code_for_country_code(country)
        return phonenumbers.parse(number, None if number.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None


def multi_records(response: httpx.Response) -> list[dict[str, Any]]:
    """The found records of a 207 bulk answer (JSON multi-status or multipart/mixed); 404s are left out."""
    content_type = response.headers.get("Content-Type", "")
    if content_type.lower().startswith("multipart/"):
        return _mixed_records(content_type, response.content)
    body = response.json()
    if isinstance(body, dict):  # a single record, as a 200 would carry it
        return [body]
    records = []
    for entry in body if isinstance(body, list) else []:
        if isinstance(entry, dict) and entry.get("status") == 200 and isinstance(entry.get("body"), dict):
            records.append(entry["body"])
    return records


def _mixed_records(content_type: str, content: bytes) -> list[dict[str, Any]]:
    # The first part lists each resource's status; the records follow as their own parts.
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + content)
    records = []
    for part in list(message.iter_parts())[1:]:
        payload = part.get_payload(decode=True)
        try:
            body = json.loads(payload) if isinstance(payload, bytes) else None
        except ValueError:
            continue
        if isinstance(body, dict) and "id" in body and "errorCode" not in body:
            records.append(body)
    return records
