"""One aiohttp application for every HTTP route of `faxbridge serve`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
MetricsPage = Callable[[], Awaitable[bytes]]
MAX_BODY_BYTES = 2 * 1024 * 1024


def build_http_app(
    *, health: HealthCheck, metrics: MetricsPage, routes: Sequence[web.RouteDef] = ()
) -> web.Application:
    """The app: `/healthz`, `/metrics`, plus whatever routes the configured adapters bring."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(_: web.Request) -> web.Response:
        report = await health()
        return web.json_response(report, status=200 if report.get("status") == "ok" else 503)

    app.router.add_get("/healthz", healthz)

    async def metrics_page(_: web.Request) -> web.Response:
        # Prometheus' text format 0.0.4; aiohttp wants the charset apart from the type.
        return web.Response(body=await metrics(), content_type="text/plain", charset="utf-8")

    app.router.add_get("/metrics", metrics_page)
    app.add_routes(routes)
    return app


class HttpServer:
    """Runs an aiohttp app on a host and port inside the current event loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # With port 0 the OS picks one; report the real one.
        if self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self._runner.cleanup()
