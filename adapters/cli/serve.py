"""`faxbridge serve`: every configured way in, the HTTP routes and the core's workers, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from adapters.cli.binding import Listener, PortUnavailable, bind_problems, listener, why_unavailable
from adapters.cli.lock import ServeLock
from adapters.cli.wiring import Bridge, running
from adapters.email import start_smtp
from adapters.http.server import HttpServer, build_http_app
from adapters.ringcentral.client import RingCentralProvider
from adapters.ringcentral.webhook import EVENT_FILTER, INBOUND_FILTER, WebhookSubscriber
from adapters.slack import SlackIntake, start_slack
from adapters.slack.check import slack_gap
from bridge.clock import utcnow
from bridge.errors import ConfigError, ProviderError, StoreUnavailable
from bridge.privacy import private_umask, secure
from bridge.settings import Settings

log = logging.getLogger("faxbridge")
T = TypeVar("T")
_DB_FILES = ("", "-wal", "-shm", "-journal")


async def serve(
    settings: Settings,
    *,
    ready: Callable[[Bridge], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """`faxbridge serve`: every configured part in one loop until SIGTERM or SIGINT (or `stop` is set)."""
    with private_umask():
        secure_data(settings)
        await _serve(settings, ready=ready, stop=stop or asyncio.Event())


def secure_data(settings: Settings) -> None:
    """Make the data directory and the database private before anything is read or written there."""
    database = settings.store.database_path
    outside = (
        []
        if database.is_relative_to(settings.store.data_dir)
        else [Path(f"{database}{s}") for s in _DB_FILES]
    )
    fixed = secure(settings.store.data_dir, outside)
    if fixed:
        log.warning(
            "made %d files in %s private to this user (they were readable by others)",
            fixed,
            settings.store.data_dir,
        )


async def _serve(settings: Settings, *, ready: Callable[[Bridge], None] | None, stop: asyncio.Event) -> None:
    lock = ServeLock(settings.store.data_dir)
    if not lock.acquire():
        raise ConfigError(f"another faxbridge serve is already running on {settings.store.data_dir}")
    # Tried before the store opens or anything starts, so a port in use ends `serve` in one line.
    problems = bind_problems(settings)
    if problems:
        lock.release()
        raise PortUnavailable(problems[0])
    gap = slack_gap(settings.slack)
    if gap:
        log.warning("Slack is off: %s", gap)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running(settings) as bridge:
            await bridge.dispatcher.reconcile()
            routes = await _http_routes(bridge)
            webhook = _webhook(bridge)
            if webhook is not None:
                routes.append(webhook.route())
            http = HttpServer(
                build_http_app(
                    health=lambda: health(bridge), metrics=lambda: metrics_page(bridge), routes=routes
                ),
                settings.http.host,
                settings.http.port,
            )
            await _listen(http.start(), listener(settings, "HTTP"))
            bridge.stack.push_async_callback(http.close)
            if webhook is not None:
                await _subscribe(bridge, webhook)
            await _start_intakes(bridge)
            _banner(bridge, http.url)
            if ready is not None:
                ready(bridge)
            await stop.wait()
            log.info("stopping: finishing in-flight work")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        lock.release()


def _webhook(bridge: Bridge) -> WebhookSubscriber | None:
    """The RingCentral webhook subscriber, when a public URL is configured (else status is polled)."""
    url = bridge.settings.ringcentral.webhook_url
    if not url or not isinstance(bridge.provider, RingCentralProvider):
        return None
    shared = None
    if bridge.group is not None:
        # Every bridge behind the address must accept RingCentral's notices, whichever subscribed.
        secret = f"{bridge.settings.ringcentral.client_secret}:{bridge.settings.ringcentral.jwt}"
        shared = hmac.new(secret.encode(), b"faxbridge-webhook:" + url.encode(), hashlib.sha256).hexdigest()[
            :32
        ]
    receiving = bridge.receiving
    if receiving is None:
        return WebhookSubscriber(bridge.provider.api, url, bridge.status_changed, shared_token=shared)

    def wake() -> None:
        # A notification says only "look now": the tracker and the receiver both read the store.
        bridge.status_changed()
        receiving.wake()

    return WebhookSubscriber(
        bridge.provider.api, url, wake, shared_token=shared, event_filters=(EVENT_FILTER, INBOUND_FILTER)
    )


async def _subscribe(bridge: Bridge, subscriber: WebhookSubscriber) -> None:
    """Subscribe now when alone; with several bridges on one database, wherever the leader is."""
    if bridge.group is None:
        await _subscribe_held(bridge, subscriber, bridge.stack)
        return

    async def duty(held: contextlib.AsyncExitStack) -> None:
        await _subscribe_held(bridge, subscriber, held)

    bridge.add_leader_duty(duty)


async def _subscribe_held(
    bridge: Bridge, subscriber: WebhookSubscriber, stack: contextlib.AsyncExitStack
) -> None:
    # RingCentral checks the URL while creating the subscription, so the HTTP site is up by now.
    try:
        await subscriber.start()
    except ProviderError as exc:
        log.warning("RingCentral webhook not set up (%s); checking status by polling instead", exc.reason)
        return
    stack.push_async_callback(subscriber.close)
    # Pushed notices do the work; polling stays as a slow safety net for a missed one.
    bridge.tracker.poll_seconds = max(bridge.settings.core.poll_seconds * 6, 60.0)
    if bridge.receiving is not None:
        bridge.receiving.every = max(bridge.settings.core.poll_seconds * 6, 60.0)
    log.info("status by RingCentral webhook at %s", bridge.settings.ringcentral.webhook_url)


async def _http_routes(bridge: Bridge) -> list[web.RouteDef]:
    """Routes of the adapters that are configured."""
    routes: list[web.RouteDef] = []
    s = bridge.settings
    if s.slack.bot_token and s.slack.signing_secret and not s.slack.app_token:
        routes.append((await _start_slack(bridge)).route())
    return routes


async def _start_intakes(bridge: Bridge) -> None:
    """Start the ways in that are configured (SMTP, Slack)."""
    # aiosmtpd's server in this loop (no threaded Controller); closed before the store on shutdown.
    s = bridge.settings
    smtp = await _listen(start_smtp(bridge.service, s.smtp, s.store.incoming_dir), listener(s, "SMTP"))
    bridge.stack.push_async_callback(smtp.close)
    if s.slack.app_token and s.slack.bot_token:
        await (await _start_slack(bridge)).connect_socket_mode()


async def _listen(start: Awaitable[T], listener: Listener) -> T:
    """Start a server; an address taken since it was tried is still one line, not a traceback."""
    try:
        return await start
    except OSError as exc:
        raise PortUnavailable(why_unavailable(listener, exc)) from exc


async def _start_slack(bridge: Bridge) -> SlackIntake:
    """The Slack intake on the core service and the request inbox, closed with the bridge."""
    s = bridge.settings
    return await start_slack(
        s.slack,
        bridge.service,
        bridge.inbox,
        bridge.stack,
        incoming_dir=s.store.incoming_dir,
        retention_days=s.core.retention_days,
        fetch=s.fetch,
    )


async def health(bridge: Bridge) -> dict[str, Any]:
    """What `/healthz` reports: each part's state."""
    parts: dict[str, str] = {}
    try:
        await bridge.store.ping()
        parts["store"] = "ok"
    except StoreUnavailable as exc:
        parts["store"] = f"unavailable: {exc.reason}"
    for task in bridge.tasks:
        parts[task.get_name()] = "stopped" if task.done() else "ok"
    ok = all(v == "ok" for v in parts.values())
    return {"status": "ok" if ok else "unhealthy", "demo": bridge.settings.demo, "parts": parts}


async def metrics_page(bridge: Bridge) -> bytes:
    """What `/metrics` serves: counters as they are, job gauges read from the store now."""
    try:
        bridge.metrics.observe_jobs(await bridge.store.counts(), await bridge.store.oldest_queued(), utcnow())
        bridge.metrics.observe_replies(await bridge.store.failing_replies())
    except StoreUnavailable as exc:
        log.warning("metrics without job counts: %s", exc.reason)
    return bridge.metrics.render()


def _banner(bridge: Bridge, http_url: str) -> None:
    s = bridge.settings
    if s.demo:
        log.warning(
            "DEMO MODE: faxes go to the built-in RingCentral stand-in at %s; no real fax is sent",
            bridge.provider_url,
        )
    log.info("faxbridge serving: HTTP %s, data in %s", http_url, s.store.data_dir)
