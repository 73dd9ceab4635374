"""The stand-in's HTTP server: each request logged, scripted faults and rate limits applied; started in a
running loop or run alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from adapters.ringcentral.standin import admin, api
from adapters.ringcentral.standin.errors import (
    StandinError,
    cannot_parse,
    invalid_uri,
    rate_exceeded,
    server_error,
)
from adapters.ringcentral.standin.limits import REQUEST_FAULTS, Fault, FaultKind
from adapters.ringcentral.standin.world import RequestRecord, Standin, StandinConfig

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(standin: Standin) -> web.Application:
    """The aiohttp application serving a stand-in: RingCentral's routes and the admin API."""
    front = _Front(standin)
    app = web.Application(middlewares=[front.record, front.gate], client_max_size=2 * 1024 * 1024)
    api.add_routes(app, standin)
    admin.add_routes(app, standin)
    app.on_shutdown.append(front.on_shutdown)
    app.cleanup_ctx.append(front.lifecycle)
    return app


class _Front:
    """What every request passes: the request log, scripted faults and rate limits, and the server's life."""

    def __init__(self, standin: Standin) -> None:
        self.standin = standin
        self._closing = False

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        http = self.standin.http = aiohttp.ClientSession()
        notifier = asyncio.create_task(self.standin.notifier.run(http), name="standin-notifier")
        yield
        notifier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await notifier
        await http.close()
        self.standin.state.save(self.standin.messages, self.standin.received)

    async def on_shutdown(self, app: web.Application) -> None:
        self._closing = True

    @web.middleware
    async def record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer errors with RingCentral bodies, and log every request."""
        arrived = self.standin.clock()
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
        self.standin.requests.append(
            RequestRecord(
                at=arrived,
                answered=self.standin.clock(),
                method=request.method,
                path=request.path,
                query=request.query_string,
                status=response.status,
                group=request.get(api.RATE_GROUP),
                fault=request.get(api.FAULT),
            )
        )
        return response

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Scripted faults first, then the rate-limit group of the route."""
        if request.path.startswith("/_standin"):
            return await handler(request)
        fault = self.standin.faults.take(request.method, request.path, REQUEST_FAULTS)
        if fault is not None:
            request[api.FAULT] = str(fault.kind)
            early = await self._fault_before(request, fault)
            if early is not None:
                return early
        group = api.rate_group(request)
        headers: dict[str, str] = {}
        if group is not None:
            request[api.RATE_GROUP] = str(group)
            allowed, headers = self.standin.limiter.admit(group)
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
            self.standin.expire_tokens()
        return None

    async def _hold(self, request: web.Request) -> None:
        """Keep a request unanswered until its client gives up, the server stops, or hang_seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.standin.config.hang_seconds
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
    runner = web.AppRunner(build_app(standin), shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host
    shown = f"[{shown}]" if ":" in shown else shown
    standin.base_url = f"http://{shown}:{bound_port}"
    return RunningStandin(url=standin.base_url, standin=standin, runner=runner)


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
