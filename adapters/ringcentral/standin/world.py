"""What the stand-in knows: its configuration, faxes, tokens, rate limits, faults, subscriptions and
the requests it answered. The HTTP side (`server.py`, `api.py`, `admin.py`) reads and changes it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from adapters.ringcentral.standin.auth import Credentials, TokenStore
from adapters.ringcentral.standin.fax import FaxMessage, Mailbox
from adapters.ringcentral.standin.inbound import InboundFax, document_type, sender_number
from adapters.ringcentral.standin.limits import Faults, Group, RateLimiter
from adapters.ringcentral.standin.state import StateFile
from adapters.ringcentral.standin.webhooks import Notifier, SubscriptionStore


@dataclass(frozen=True, kw_only=True)
class StandinConfig:
    """How the stand-in behaves. Every field is optional; the defaults are RingCentral's."""

    delay_seconds: float = 2.0  # Queued -> Sent, and again Sent -> Delivered
    heavy_limit: int = 10
    medium_limit: int = 40
    light_limit: int = 50
    auth_limit: int = 5
    window_seconds: float = 60.0
    penalty_seconds: float = 60.0
    token_ttl: int = 3600
    refresh_token_ttl: int = 604_800
    client_id: str | None = None  # None: any Basic credentials are accepted
    client_secret: str | None = None
    jwt: str | None = None  # None: any non-empty assertion is accepted
    account_id: str = "400100001"
    extension_id: str = "400100002"
    fax_number: str = "+16505550100"
    webhook_timeout: float = 3.0  # RingCentral gives a WebHook 3 s to answer
    hang_seconds: float = 300.0  # the longest a `hang` fault holds a request
    keep_documents: int = 100  # the newest faxes whose bytes stay in memory
    max_per_page: int = 1000  # the most records one message-store page holds, whatever perPage asks
    state_file: Path | None = None  # JSON file that lets a restarted stand-in remember its faxes


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """One request the stand-in answered; `at` is when it arrived, `answered` when it was answered."""

    at: float
    method: str
    path: str
    query: str
    status: int
    group: str | None
    fault: str | None
    answered: float = 0.0


class Standin:
    """The stand-in's state; `server.build_app` serves it."""

    def __init__(
        self, config: StandinConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config or StandinConfig()
        self.clock = clock
        cfg = self.config
        self.mailbox = Mailbox(
            account_id=cfg.account_id, extension_id=cfg.extension_id, fax_number=cfg.fax_number
        )
        self.tokens = TokenStore(
            Credentials(client_id=cfg.client_id, client_secret=cfg.client_secret, jwt=cfg.jwt),
            owner_id=cfg.extension_id,
            access_ttl=cfg.token_ttl,
            refresh_ttl=cfg.refresh_token_ttl,
            clock=clock,
        )
        limits = {
            Group.HEAVY: cfg.heavy_limit,
            Group.MEDIUM: cfg.medium_limit,
            Group.LIGHT: cfg.light_limit,
            Group.AUTH: cfg.auth_limit,
        }
        self.limiter = RateLimiter(
            limits, window=cfg.window_seconds, penalty=cfg.penalty_seconds, clock=clock
        )
        self.faults = Faults()
        self.subscriptions = SubscriptionStore(clock)
        self.state = StateFile(cfg.state_file)
        self.messages: list[FaxMessage] = self.state.load()
        self.received: list[InboundFax] = self.state.load_received()
        self.base_url = "http://127.0.0.1"  # where records point; the server sets its own address
        self.requests: deque[RequestRecord] = deque(maxlen=1000)
        self.notifier = Notifier(
            mailbox=self.mailbox,
            messages=lambda: self.messages,
            received=lambda: self.received,
            base_url=lambda: self.base_url,
            subscriptions=self.subscriptions.live,
            clock=clock,
            timeout=cfg.webhook_timeout,
        )
        self.notifier.mark_all_seen()
        self.http: aiohttp.ClientSession | None = None  # for WebHook calls, while the server runs

    def message(self, message_id: int) -> FaxMessage | None:
        return next((message for message in self.messages if message.id == message_id), None)

    def received_fax(self, message_id: int) -> InboundFax | None:
        return next((fax for fax in self.received if fax.id == message_id), None)

    def receive(
        self, data: bytes, *, from_number: str | None, to_number: str | None, pages: int
    ) -> InboundFax:
        """A fax arrives on the mailbox's number (or `to_number`): kept, persisted, and announced."""
        fax = InboundFax(
            id=self.next_message_id(),
            created=self.clock(),
            from_number=sender_number(from_number),
            to_number=sender_number(to_number) if to_number else self.mailbox.fax_number,
            content_type=document_type(data),
            data=data,
            size=len(data),
            page_count=pages,
        )
        self.received.append(fax)
        for old in self.received[: -self.config.keep_documents or None]:
            old.data = None
        self.state.save(self.messages, self.received)
        self.notifier.kick()
        return fax

    def add_message(self, message: FaxMessage) -> None:
        """Store a new fax, drop the bytes of old ones, persist, and wake the notifier."""
        self.messages.append(message)
        for old in self.messages[: -self.config.keep_documents or None]:
            old.documents = ()
        self.state.save(self.messages, self.received)
        self.notifier.kick()

    def next_message_id(self) -> int:
        ids = [message.id for message in self.messages] + [fax.id for fax in self.received]
        return max(ids, default=1_000_000_000) + 1

    def expire_tokens(self) -> None:
        """Expire every access token now (refresh tokens stay usable)."""
        self.tokens.expire_all()

    def reset(self) -> None:
        """Forget faxes, subscriptions, faults, counters and the request log."""
        self.messages.clear()
        self.received.clear()
        self.subscriptions.clear()
        self.faults.clear()
        self.limiter.reset()
        self.requests.clear()
        self.notifier.deliveries.clear()
        self.state.save(self.messages, self.received)
