"""`GET .../message-store`: filters, the default 24-hour window, paging and navigation."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from multidict import MultiDictProxy
from yarl import URL

from adapters.ringcentral.standin.errors import invalid
from adapters.ringcentral.standin.fax import FaxMessage, Mailbox, message_record, parse_time
from adapters.ringcentral.standin.inbound import InboundFax

DAY = 24 * 3600
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 100


def list_messages(
    messages: Iterable[FaxMessage],
    url: URL,
    now: float,
    base_url: str,
    mailbox: Mailbox,
    *,
    max_per_page: int = MAX_PER_PAGE,
    received: Iterable[InboundFax] = (),
) -> dict[str, Any]:
    """The `GetMessageList` body for this request URL, newest first: faxes sent and received."""
    query = url.query
    date_to = _time(query, "dateTo", now)
    date_from = _time(query, "dateFrom", date_to - DAY)
    page = _positive(query, "page", 1)
    per_page = min(_positive(query, "perPage", DEFAULT_PER_PAGE), max_per_page)
    everything: list[FaxMessage | InboundFax] = [*messages, *received]
    wanted = [
        message
        for message in everything
        if date_from <= message.created <= date_to and _matches(message, query)
    ]
    wanted.sort(key=lambda message: (message.created, message.id), reverse=True)
    start = (page - 1) * per_page
    shown = wanted[start : start + per_page]
    total_pages = math.ceil(len(wanted) / per_page)
    paging: dict[str, Any] = {
        "page": page,
        "perPage": per_page,
        "totalPages": total_pages,
        "totalElements": len(wanted),
    }
    if shown:
        paging.update(pageStart=start, pageEnd=start + len(shown) - 1)
    return {
        "uri": str(url),
        "records": [_record(message, now, base_url, mailbox) for message in shown],
        "paging": paging,
        "navigation": _navigation(url, page, per_page, total_pages),
    }


def _record(message: FaxMessage | InboundFax, now: float, base_url: str, mailbox: Mailbox) -> dict[str, Any]:
    if isinstance(message, InboundFax):
        return message.record(base_url, mailbox)
    return message_record(message, now, base_url, mailbox)


def _matches(message: FaxMessage | InboundFax, query: MultiDictProxy[str]) -> bool:
    allowed = {
        "messageType": "Fax",
        "direction": "Inbound" if isinstance(message, InboundFax) else "Outbound",
        "availability": "Alive",
        "readStatus": "Unread",
    }
    for name, own in allowed.items():
        values = query.getall(name, [])
        if values and own not in values:
            return False
    number = re.sub(r"\D", "", query.get("phoneNumber", ""))
    # The other party: whom a sent fax went to, who sent a received one.
    parties = [message.from_number] if isinstance(message, InboundFax) else message.to
    return not number or any(re.sub(r"\D", "", party).endswith(number) for party in parties)


def _navigation(url: URL, page: int, per_page: int, total_pages: int) -> dict[str, Any]:
    def link(number: int) -> dict[str, str]:
        return {"uri": str(url.update_query(page=number, perPage=per_page))}

    navigation: dict[str, Any] = {}
    if total_pages:
        navigation.update(firstPage=link(1), lastPage=link(total_pages))
    if page < total_pages:
        navigation["nextPage"] = link(page + 1)
    if 1 < page <= total_pages + 1:
        navigation["previousPage"] = link(page - 1)
    return navigation


def _time(query: MultiDictProxy[str], name: str, default: float) -> float:
    value = query.get(name)
    if value is None:
        return default
    try:
        return parse_time(value)
    except ValueError:
        raise invalid(name) from None


def _positive(query: MultiDictProxy[str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid(name)
    return int(value)
