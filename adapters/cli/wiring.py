"""The composition root: builds every part from Settings and runs them in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from bridge.errors import ConfigError, StoreUnavailable
from bridge.metrics import Metrics
from bridge.model import Channel
from bridge.ports import FaxProvider, JobStore, Replier, RequestInbox
from bridge.privacy import make_private_dir, open_private, private_umask, secure
from bridge.replies import LogReplier, ReplyPump
from bridge.retry import RetryPolicy
from bridge.service import Clock, FaxService, utcnow
from bridge.settings import Settings
from bridge.tracking import Tracker
from bridge.workers import ProcessWorkers

log = logging.getLogger("faxbridge")
PURGE_EVERY = 3600.0
LAG_EVERY = 0.05
DEMO_CLIENT = ("faxbridge-demo", "faxbridge-demo-secret", "faxbridge-demo-jwt")
_DB_FILES = ("", "-wal", "-shm", "-journal")
# Imported once by the worker pool's fork server, so a new worker starts in milliseconds.
WORKER_PRELOAD = (
    "bridge.filetypes",
    "bridge.cover",
    "adapters.email.mime",
    "pypdf",
    "PIL.Image",
    "PIL.TiffImagePlugin",
    "PIL.PngImagePlugin",
    "PIL.JpegImagePlugin",
)


@dataclass
class Bridge:
    """Every long-lived part of one faxbridge process."""

    settings: Settings
    store: JobStore
    inbox: RequestInbox
    provider: FaxProvider
    service: FaxService
    dispatcher: Any
    tracker: Tracker
    pump: ReplyPump
    repliers: dict[Channel, Replier]
    stack: contextlib.AsyncExitStack
    metrics: Metrics
    provider_url: str = ""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop claiming work, let the submissions under way finish, then close everything."""
        for task in (*self.tasks, *self.watchers):
            task.cancel()
        await asyncio.gather(*self.tasks, *self.watchers, return_exceptions=True)
        await self.dispatcher.drain()
        await self.stack.aclose()

    def start_workers(self) -> None:
        """Run the dispatcher, the tracker, the reply pump and the retention sweeper in the background."""
        for name, coro in (
            ("dispatcher", self.dispatcher.run()),
            ("tracker", self.tracker.run()),
            ("replies", self.pump.run()),
            ("retention", _purge_forever(self.store, self.settings)),
        ):
            self.tasks.append(asyncio.create_task(_guarded(name, coro), name=name))
        # Not a part /healthz judges: it only measures, for /metrics.
        self.watchers.append(asyncio.create_task(_watch_loop(self.metrics), name="loop-lag"))


async def build_bridge(
    settings: Settings,
    *,
    provider: FaxProvider | None = None,
    clock: Clock = utcnow,
    repliers: dict[Channel, Replier] | None = None,
) -> Bridge:
    """Open the store, connect the provider (starting the stand-in in demo mode) and wire the core."""
    from adapters.sqlite import SqliteJobStore
    from adapters.sqlite.inbox import SqliteRequestInbox
    from bridge.dispatch import Dispatcher

    stack = contextlib.AsyncExitStack()
    metrics = Metrics()
    try:
        store = SqliteJobStore(settings.database_path, settings.spool_dir)
        await store.open()
        stack.push_async_callback(store.close)
        # Every untrusted file, and every cover drawn, is read or made in these worker processes.
        workers = ProcessWorkers(preload=WORKER_PRELOAD)
        stack.push_async_callback(workers.close)
        provider_url = ""
        if provider is None:
            provider, provider_url = await _connect_provider(settings, stack, metrics)
        retry = RetryPolicy(attempts=settings.retry_attempts, delay_seconds=settings.retry_delay_seconds)
        dispatcher = Dispatcher(
            store,
            provider,
            clock=clock,
            retry=retry,
            submit_timeout=settings.submit_timeout_seconds,
            unknown_after=settings.unknown_fate_seconds,
            workers=workers,
        )
        tracker = Tracker(
            store,
            provider,
            clock=clock,
            retry=retry,
            poll_seconds=settings.poll_seconds,
            settle_seconds=settings.sent_settle_seconds,
            on_requeue=dispatcher.wake,
        )
        service = FaxService(
            settings, store, clock=clock, on_new_work=dispatcher.wake, metrics=metrics, workers=workers
        )
        all_repliers: dict[Channel, Replier] = {Channel.CLI: LogReplier()}
        all_repliers.update(_channel_repliers(settings, stack) if repliers is None else repliers)
        pump = ReplyPump(
            store,
            all_repliers,
            clock=clock,
            retry_seconds=settings.reply_retry_seconds,
            fallback=LogReplier(),
            metrics=metrics,
        )
        store.subscribe(pump.wake)
    except BaseException:
        await stack.aclose()
        raise
    return Bridge(
        settings=settings,
        store=store,
        inbox=SqliteRequestInbox(store),
        provider=provider,
        service=service,
        dispatcher=dispatcher,
        tracker=tracker,
        pump=pump,
        repliers=all_repliers,
        stack=stack,
        metrics=metrics,
        provider_url=provider_url,
    )


async def _connect_provider(
    settings: Settings, stack: contextlib.AsyncExitStack, metrics: Metrics
) -> tuple[FaxProvider, str]:
    from adapters.ringcentral.api import call_timeout
    from adapters.ringcentral.client import RingCentralProvider

    if settings.demo:
        from adapters.ringcentral.standin import StandinConfig, start_standin

        standin = await start_standin(
            "127.0.0.1", 0, StandinConfig(delay_seconds=settings.sandbox_delay_seconds)
        )
        stack.push_async_callback(standin.close)
        client_id, secret, jwt = DEMO_CLIENT
        url = standin.url
    else:
        client_id, secret, jwt = (
            settings.ringcentral_client_id,
            settings.ringcentral_client_secret,
            settings.ringcentral_jwt,
        )
        url = settings.ringcentral_server_url
    timeout = call_timeout(settings.provider_timeout_seconds)
    provider = RingCentralProvider(url, client_id, secret, jwt, metrics=metrics, timeout=timeout)
    stack.push_async_callback(provider.close)
    return provider, url


async def _guarded(name: str, coro: Awaitable[None]) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s stopped unexpectedly", name)
        raise


async def _watch_loop(metrics: Metrics) -> None:
    """Measure how late a short timer fires: the longest any one piece of work held the event loop."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(LAG_EVERY)
        metrics.loop_lag.observe(max(0.0, loop.time() - started - LAG_EVERY))


async def _purge_forever(store: JobStore, settings: Settings) -> None:
    while True:
        try:
            await purge_expired(store, settings, now=utcnow())
        except StoreUnavailable as exc:
            log.warning("retention sweep skipped: %s", exc.reason)
        await asyncio.sleep(PURGE_EVERY)


async def purge_expired(store: JobStore, settings: Settings, *, now: datetime) -> tuple[int, int]:
    """One retention sweep: documents, then records, of requests that ended before the retention period."""
    before = now - timedelta(days=settings.retention_days)
    # Documents first: a job's record goes only once its bytes are gone.
    documents = await store.purge_documents(before)
    jobs = await store.purge_records(before)
    if documents or jobs:
        log.info(
            "retention: removed %d documents and %d jobs that ended over %s days ago",
            documents,
            jobs,
            settings.retention_days,
        )
    return documents, jobs


class ServeLock:
    """An advisory lock in the data directory: held while `serve` runs, so `send` knows."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "serve.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        make_private_dir(self.path.parent)
        # Held open for as long as the lock is; created 0600 like everything in the data directory.
        handle = os.fdopen(open_private(self.path, os.O_RDWR | os.O_CREAT), "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return True

    def held_by_other(self) -> bool:
        if not self.acquire():
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@contextlib.asynccontextmanager
async def running(settings: Settings, **kwargs: Any) -> AsyncIterator[Bridge]:
    """A built bridge whose workers run for the duration of the block."""
    bridge = await build_bridge(settings, **kwargs)
    try:
        bridge.start_workers()
        yield bridge
    finally:
        await bridge.close()


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
    database = settings.database_path
    outside = (
        [] if database.is_relative_to(settings.data_dir) else [Path(f"{database}{s}") for s in _DB_FILES]
    )
    fixed = secure(settings.data_dir, outside)
    if fixed:
        log.warning(
            "made %d files in %s private to this user (they were readable by others)",
            fixed,
            settings.data_dir,
        )


async def _serve(settings: Settings, *, ready: Callable[[Bridge], None] | None, stop: asyncio.Event) -> None:
    from adapters.http.server import HttpServer, build_http_app

    problem = settings.plaintext_auth_problem()
    if problem:  # refused before anything starts: `serve` exits 2 with this one line
        raise ConfigError(problem)
    lock = ServeLock(settings.data_dir)
    if not lock.acquire():
        raise ConfigError(f"another faxbridge serve is already running on {settings.data_dir}")
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
                settings.http_host,
                settings.http_port,
            )
            await http.start()
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


def _webhook(bridge: Bridge) -> Any:
    """The RingCentral webhook subscriber, when a public URL is configured (else status is polled)."""
    from adapters.ringcentral.client import RingCentralProvider
    from adapters.ringcentral.webhook import WebhookSubscriber

    url = bridge.settings.ringcentral_webhook_url
    if not url or not isinstance(bridge.provider, RingCentralProvider):
        return None
    return WebhookSubscriber(bridge.provider.api, url, bridge.tracker.wake)


async def _subscribe(bridge: Bridge, subscriber: Any) -> None:
    # RingCentral checks the URL while creating the subscription, so the HTTP site is up by now.
    from bridge.errors import ProviderError

    try:
        await subscriber.start()
    except ProviderError as exc:
        log.warning("RingCentral webhook not set up (%s); checking status by polling instead", exc.reason)
        return
    bridge.stack.push_async_callback(subscriber.close)
    # Pushed notices do the work; polling stays as a slow safety net for a missed one.
    bridge.tracker.poll_seconds = max(bridge.settings.poll_seconds * 6, 60.0)
    log.info("status by RingCentral webhook at %s", bridge.settings.ringcentral_webhook_url)


def _channel_repliers(settings: Settings, stack: contextlib.AsyncExitStack) -> dict[Channel, Replier]:
    """The repliers of the configured channels (email, Slack); CLI jobs are told through the log."""
    from adapters.email import EmailReplier

    # Email is always on: with no relay set, its receipts and reports go to the log.
    repliers: dict[Channel, Replier] = {Channel.EMAIL: EmailReplier(settings)}
    if settings.slack_bot_token:
        from adapters.slack import slack_replier

        repliers[Channel.SLACK] = slack_replier(settings, stack)
    return repliers


async def _http_routes(bridge: Bridge) -> list[Any]:
    """Routes of the adapters that are configured."""
    routes: list[Any] = []
    s = bridge.settings
    if s.slack_bot_token and s.slack_signing_secret and not s.slack_app_token:
        from adapters.slack import start_slack

        routes.append((await start_slack(bridge)).route())
    return routes


async def _start_intakes(bridge: Bridge) -> None:
    """Start the ways in that are configured (SMTP, Slack)."""
    from adapters.email import start_smtp

    # aiosmtpd's server in this loop (no threaded Controller); closed before the store on shutdown.
    smtp = await start_smtp(bridge.service, bridge.settings)
    bridge.stack.push_async_callback(smtp.close)
    if bridge.settings.slack_app_token:
        from adapters.slack import start_slack

        await (await start_slack(bridge)).connect_socket_mode()


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
    log.info("faxbridge serving: HTTP %s, data in %s", http_url, s.data_dir)
