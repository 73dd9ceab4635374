"""The built-in RingCentral stand-in: an aiohttp server speaking the REST paths faxbridge uses.

It is the provider in demo mode and in tests, and `faxbridge sandbox` runs it alone.
It keeps RingCentral's limits, error bodies and rate-limit groups, moves each fax through
Queued -> Sent -> Delivered (or SendingFailed, by destination number), performs the
WebHook handshake and notifications, and takes scripted faults. `/_standin/...` is an
admin API for inspecting and driving it from another process.

    running = await start_standin(config=StandinConfig(delay_seconds=0.05))
    ...  # point the client at running.url; inspect running.standin.messages
    await running.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from adapters.ringcentral import standin_admin, standin_api
from adapters.ringcentral.standin_auth import Credentials, TokenStore
from adapters.ringcentral.standin_errors import (
    StandinError,
    cannot_parse,
    invalid_uri,
    rate_exceeded,
    server_error,
)
from adapters.ringcentral.standin_fax import FaxMessage, Mailbox
from adapters.ringcentral.standin_limits import REQUEST_FAULTS, Fault, FaultKind, Faults, Group, RateLimiter
from adapters.ringcentral.standin_state import StateFile
from adapters.ringcentral.standin_webhooks import Notifier, SubscriptionStore

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    """The stand-in's state, and the aiohttp application serving it (`.app`)."""

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
        self.requests: deque[RequestRecord] = deque(maxlen=1000)
        self.notifier = Notifier(
            mailbox=self.mailbox,
            messages=lambda: self.messages,
            subscriptions=self.subscriptions.live,
            clock=clock,
            timeout=cfg.webhook_timeout,
        )
        self.notifier.mark_all_seen()
        self.http: aiohttp.ClientSession | None = None
        self._closing = False
        self.app = self._build_app()

    def message(self, message_id: int) -> FaxMessage | None:
        return next((message for message in self.messages if message.id == message_id), None)

    def add_message(self, message: FaxMessage) -> None:
        """Store a new fax, drop the bytes of old ones, persist, and wake the notifier."""
        self.messages.append(message)
        for old in self.messages[: -self.config.keep_documents or None]:
            old.documents = ()
        self.state.save(self.messages)
        self.notifier.kick()

    def next_message_id(self) -> int:
        return max((message.id for message in self.messages), default=1_000_000_000) + 1

    def expire_tokens(self) -> None:
        """Expire every access token now (refresh tokens stay usable)."""
        self.tokens.expire_all()

    def reset(self) -> None:
        """Forget faxes, subscriptions, faults, counters and the request log."""
        self.messages.clear()
        self.subscriptions.clear()
        self.faults.clear()
        self.limiter.reset()
        self.requests.clear()
        self.notifier.deliveries.clear()
        self.state.save(self.messages)

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._gate], client_max_size=2 * 1024 * 1024)
        standin_api.add_routes(app, self)
        standin_admin.add_routes(app, self)
        app.on_shutdown.append(self._on_shutdown)
        app.cleanup_ctx.append(self._lifecycle)
        return app

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self.http = aiohttp.ClientSession()
        notifier = asyncio.create_task(self.notifier.run(self.http), name="standin-notifier")
        yield
        notifier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await notifier
        await self.http.close()
        self.state.save(self.messages)

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing = True

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer errors with RingCentral bodies, and log every request."""
        arrived = self.clock()
        try:
            response = await handler(request)
        except StandinError as exc:
            response = exc.response()
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            response = invalid_uri(exc.status).response()
        except web.HTTPException as exc:
            response = cannot_parse(exc.status).response()
        except Exception:
            log.exception("stand-in failed on %s %s", request.method, request.path)
            response = server_error(500).response()
        self.requests.append(
            RequestRecord(
                at=arrived,
                answered=self.clock(),
                method=request.method,
                path=request.path,
                query=request.query_string,
                status=response.status,
                group=request.get(standin_api.RATE_GROUP),
                fault=request.get(standin_api.FAULT),
            )
        )
        return response

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Scripted faults first, then the rate-limit group of the route."""
        if request.path.startswith("/_standin"):
            return await handler(request)
        fault = self.faults.take(request.method, request.path, REQUEST_FAULTS)
        if fault is not None:
            request[standin_api.FAULT] = str(fault.kind)
            early = await self._fault_before(request, fault)
            if early is not None:
                return early
        group = standin_api.rate_group(request)
        headers: dict[str, str] = {}
        if group is not None:
            request[standin_api.RATE_GROUP] = str(group)
            allowed, headers = self.limiter.admit(group)
            if not allowed:
                raise rate_exceeded(headers)
        try:
            response = await handler(request)
        except StandinError as exc:
            response = exc.response()
        response.headers.update(headers)
        if fault is not None and fault.kind is FaultKind.HANG_AFTER:
            await self._hold(request)
        if fault is not None and fault.kind is FaultKind.RESET_AFTER:
            _reset(request)
        return response

    async def _fault_before(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        kind = fault.kind
        if kind in (FaultKind.ERROR_500, FaultKind.ERROR_502, FaultKind.ERROR_503, FaultKind.ERROR_504):
            raise server_error(int(kind))
        if kind is FaultKind.RATE_LIMITED:
            raise rate_exceeded({"Retry-After": str(fault.retry_after)})
        if kind is FaultKind.FORBIDDEN:
            raise StandinError(403, "MSG-341", "Outbound fax not allowed for extension")
        if kind is FaultKind.HANG:
            await self._hold(request)
            return web.Response(status=504)
        if kind is FaultKind.RESET:
            _reset(request)
            return web.Response(status=502)
        if kind is FaultKind.EXPIRE_TOKENS:
            self.expire_tokens()
        return None

    async def _hold(self, request: web.Request) -> None:
        """Keep a request unanswered until its client gives up, the server stops, or hang_seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.hang_seconds
        while not self._closing and loop.time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.05)


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset, as a crashed peer or a middlebox would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass(kw_only=True)
class RunningStandin:
    """A stand-in listening on a socket; `url` is its base URL (`RINGCENTRAL_SERVER_URL`)."""

    url: str
    standin: Standin
    runner: web.AppRunner = field(repr=False)

    async def close(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningStandin:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_standin(
    host: str = "127.0.0.1",
    port: int = 0,
    config: StandinConfig | None = None,
    *,
    standin: Standin | None = None,
) -> RunningStandin:
    """Start a stand-in on host:port (port 0 picks a free one) in the running loop."""
    standin = standin or Standin(config)
    runner = web.AppRunner(standin.app, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host
    shown = f"[{shown}]" if ":" in shown else shown
    return RunningStandin(url=f"http://{shown}:{bound_port}", standin=standin, runner=runner)


def run_standin(host: str = "127.0.0.1", port: int = 0, config: StandinConfig | None = None) -> None:
    """Run a stand-in until SIGINT or SIGTERM, printing its URL (for `faxbridge sandbox`)."""
    asyncio.run(_serve(host, port, config))


async def _serve(host: str, port: int, config: StandinConfig | None) -> None:
    running = await start_standin(host, port, config)
    print(f"RingCentral stand-in listening on {running.url} (no real fax is sent)", flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await running.close()
