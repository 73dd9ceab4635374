"""The composition root: builds every part from Settings and runs the core's workers in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.cli.sandbox import forget_url, note_url
from adapters.cli.stores import Group, open_store
from adapters.email import EmailReplier
from adapters.email.received import MailForwarder
from adapters.ringcentral.api import call_timeout
from adapters.ringcentral.client import RingCentralProvider
from adapters.ringcentral.receiving import RingCentralFaxInbox
from adapters.ringcentral.standin import StandinConfig, start_standin
from adapters.slack import slack_replier
from adapters.slack.app import web_client
from adapters.slack.received import SlackForwarder
from adapters.sqlite import SqliteJobStore
from adapters.sqlite.received import SqliteReceivedFaxes
from bridge.clock import Clock, utcnow
from bridge.delivering import Delivering
from bridge.dispatch import Dispatcher
from bridge.errors import ConfigError
from bridge.metrics import Metrics
from bridge.model import Channel
from bridge.ports import (
    FaxProvider,
    FaxReceiver,
    Forwarder,
    JobStore,
    ReceivedFaxes,
    Replier,
    RequestInbox,
    StatusMessages,
)
from bridge.received import DestinationKind
from bridge.receiving import Receiving
from bridge.replies import LogReplier, ReplyPump
from bridge.retention import RetentionSweeper
from bridge.retry import RetryPolicy
from bridge.service import FaxService
from bridge.settings import RingCentralSettings, Settings
from bridge.tracking import Tracker
from bridge.workers import ProcessWorkers

log = logging.getLogger("faxbridge")
# Work one bridge of a group does for all: started with the stack that ends it when leadership goes.
Duty = Callable[[contextlib.AsyncExitStack], Awaitable[None]]
LAG_EVERY = 0.05
DEMO_HEAVY_LIMIT = 30
DEMO_CLIENT = ("faxbridge-demo", "faxbridge-demo-secret", "faxbridge-demo-jwt")
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
    "bridge.faxpdf",
)


@dataclass
class Bridge:
    """Every long-lived part of one faxbridge process."""

    settings: Settings
    store: JobStore
    inbox: RequestInbox
    provider: FaxProvider
    service: FaxService
    dispatcher: Dispatcher
    tracker: Tracker
    pump: ReplyPump
    retention: RetentionSweeper
    repliers: dict[Channel, Replier]
    stack: contextlib.AsyncExitStack
    metrics: Metrics
    # None on a PostgreSQL store, which does not keep received faxes yet.
    received: ReceivedFaxes | None
    delivering: Delivering | None
    receiving: Receiving | None = None  # None: receiving is off (no routes, not demo mode)
    provider_url: str = ""
    # Several bridges on one database: the tracker and the webhook subscription run on the elected one.
    group: Group | None = None
    leader_duties: list[Duty] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)

    def add_leader_duty(self, duty: Duty) -> None:
        """Start `duty` where the group's work runs: here at once when alone, else on the elected bridge."""
        self.leader_duties.append(duty)
        if self.group is not None:
            self.group.leadership.restart()

    def status_changed(self) -> None:
        """The provider reported a change: wake the tracker that follows it (on the leader, if a group)."""
        if self.group is None:
            self.tracker.wake()
            return
        task = asyncio.create_task(self.group.nudge_status(), name="status-nudge")
        self.watchers.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self.watchers:
            self.watchers.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not pass a status change on to the leader; its polling will find it")

    async def _lead(self) -> None:
        """The group's work, while this bridge is its leader: the duties (webhook), then status tracking."""
        async with contextlib.AsyncExitStack() as held:
            for duty in list(self.leader_duties):
                await duty(held)
            await self.tracker.run()

    async def close(self) -> None:
        """Stop claiming work, let the submissions under way finish, then close everything."""
        for task in (*self.tasks, *self.watchers):
            task.cancel()
        await asyncio.gather(*self.tasks, *self.watchers, return_exceptions=True)
        await self.dispatcher.drain()
        await self.stack.aclose()

    def start_workers(self) -> None:
        """Run the dispatcher, the tracker, the reply pump and the retention sweeper in the background."""
        workers: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("dispatcher", self.dispatcher.run()),
            ("replies", self.pump.run()),
            ("retention", self.retention.run()),
        ]
        if self.group is None:
            workers.append(("tracker", self.tracker.run()))
        else:
            workers.append(("leader", self.group.leadership.run(self._lead)))
        if self.delivering is not None:
            workers.append(("deliveries", self.delivering.run()))
        for name, coro in workers:
            self.tasks.append(asyncio.create_task(_guarded(name, coro), name=name))
        if self.receiving is not None:
            self.tasks.append(
                asyncio.create_task(_guarded("receiving", self.receiving.run()), name="receiving")
            )
        # Not a part /healthz judges: it only measures, for /metrics.
        self.watchers.append(asyncio.create_task(_watch_loop(self.metrics), name="loop-lag"))


async def build_bridge(
    settings: Settings,
    *,
    provider: FaxProvider | None = None,
    clock: Clock = utcnow,
    repliers: dict[Channel, Replier] | None = None,
    source: FaxReceiver | None = None,
    forwarders: dict[DestinationKind, Forwarder] | None = None,
) -> Bridge:
    """Open the store, connect the provider (starting the stand-in in demo mode) and wire the core.

    Received faxes come from `source` (by default RingCentral's message store, when receiving is
    on) and go out through `forwarders` (by default mail, and Slack when it is configured).
    """
    stack = contextlib.AsyncExitStack()
    metrics = Metrics()
    try:
        opened = await open_store(settings)
        store, inbox = opened.store, opened.inbox
        core = settings.core
        stack.push_async_callback(store.close)
        # Every untrusted file, and every cover drawn, is read or made in these worker processes.
        workers = ProcessWorkers(preload=WORKER_PRELOAD)
        stack.push_async_callback(workers.close)
        provider_url = ""
        if provider is None:
            provider, provider_url = await _connect_provider(
                settings.ringcentral, stack, metrics, data_dir=settings.store.data_dir
            )
            if opened.group is not None and isinstance(provider, RingCentralProvider):
                # Bridges sharing a database share one RingCentral user and app, so one budget.
                provider.api.limiter.share(opened.group.budget)
        retry = RetryPolicy(attempts=core.retry_attempts, delay_seconds=core.retry_delay_seconds)
        dispatcher = Dispatcher(
            store,
            provider,
            documents=store,
            clock=clock,
            retry=retry,
            submit_timeout=core.submit_timeout_seconds,
            unknown_after=core.unknown_fate_seconds,
            workers=workers,
        )
        tracker = Tracker(
            store,
            provider,
            clock=clock,
            retry=retry,
            poll_seconds=core.poll_seconds,
            settle_seconds=core.sent_settle_seconds,
            on_requeue=dispatcher.wake,
        )
        service = FaxService(
            core, store, clock=clock, on_new_work=dispatcher.wake, metrics=metrics, workers=workers
        )
        all_repliers: dict[Channel, Replier] = {Channel.CLI: LogReplier()}
        all_repliers.update(await _channel_repliers(settings, store) if repliers is None else repliers)
        pump = ReplyPump(
            store,
            all_repliers,
            jobs=store,
            clock=clock,
            retry_seconds=core.reply_retry_seconds,
            fallback=LogReplier(),
            metrics=metrics,
        )
        # Both stores call this after every write owing a notice; PostgreSQL also when another
        # instance commits new work, which wakes this instance's dispatcher as well.
        opened.subscribe(pump.wake)
        if opened.group is not None:
            opened.subscribe(dispatcher.wake)
            opened.group.subscribe_status(tracker.wake)
        received: SqliteReceivedFaxes | None = None
        delivering: Delivering | None = None
        receiving = None
        if isinstance(store, SqliteJobStore):
            received = SqliteReceivedFaxes(store)
        elif settings.inbound.routes:
            raise ConfigError(
                "FAXBRIDGE_INBOUND_ROUTES: receiving faxes needs the SQLite store for now;"
                " FAXBRIDGE_DATABASE_URL names PostgreSQL"
            )
        if received is not None:
            if source is None and settings.inbound.receiving and isinstance(provider, RingCentralProvider):
                source = RingCentralFaxInbox(provider.api)
            delivering = Delivering(
                received,
                store,
                _forwarders(settings, store) if forwarders is None else forwarders,
                attach=settings.inbound.attach == "pdf",
                clock=clock,
                metrics=metrics,
                workers=workers,
                preview=settings.inbound.preview,
            )
            if source is not None:
                receiving = Receiving(
                    received,
                    source,
                    routes=settings.inbound.routes,
                    reply_days=settings.inbound.reply_days,
                    workers=workers,
                    scratch_root=settings.store.incoming_dir,
                    clock=clock,
                    metrics=metrics,
                    every=core.poll_seconds,
                    on_new=delivering.wake,
                )
    except BaseException:
        await stack.aclose()
        raise
    return Bridge(
        settings=settings,
        store=store,
        inbox=inbox,
        provider=provider,
        service=service,
        dispatcher=dispatcher,
        tracker=tracker,
        pump=pump,
        # The real time, whatever clock the rest runs on: what is old is judged by the calendar.
        retention=RetentionSweeper(
            store, store, retention_days=core.retention_days, clock=utcnow, received=received
        ),
        repliers=all_repliers,
        stack=stack,
        metrics=metrics,
        received=received,
        delivering=delivering,
        receiving=receiving,
        provider_url=provider_url,
        group=opened.group,
    )


def _forwarders(settings: Settings, messages: StatusMessages) -> dict[DestinationKind, Forwarder]:
    """Mail always (it says so when no relay is set); Slack when the bot token is set."""
    forwarders: dict[DestinationKind, Forwarder] = {DestinationKind.EMAIL: MailForwarder(settings.relay)}
    if settings.slack.bot_token:
        forwarders[DestinationKind.SLACK] = SlackForwarder(
            web_client(settings.slack, settings.slack.bot_token), messages, upload_hosts=settings.slack.file_hosts
        )
    return forwarders


async def _connect_provider(
    settings: RingCentralSettings, stack: contextlib.AsyncExitStack, metrics: Metrics, *, data_dir: Path
) -> tuple[FaxProvider, str]:
    if settings.demo:
        # A demo plan with room for every retry of the four demo numbers in one minute (eleven
        # sends); RingCentral's own plan (ten a minute) would hold the last one back a minute.
        config = StandinConfig(delay_seconds=settings.sandbox_delay_seconds, heavy_limit=DEMO_HEAVY_LIMIT)
        standin = await start_standin("127.0.0.1", 0, config)
        stack.push_async_callback(standin.close)
        # `faxbridge sandbox receive` finds this stand-in here, to make it receive a fax.
        stack.callback(forget_url, note_url(data_dir, standin.url))
        client_id, secret, jwt = DEMO_CLIENT
        url = standin.url
    else:
        client_id, secret, jwt = (
            settings.client_id,
            settings.client_secret,
            settings.jwt,
        )
        url = settings.server_url
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


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    *,
    provider: FaxProvider | None = None,
    clock: Clock = utcnow,
    repliers: dict[Channel, Replier] | None = None,
    source: FaxReceiver | None = None,
    forwarders: dict[DestinationKind, Forwarder] | None = None,
) -> AsyncIterator[Bridge]:
    """A built bridge whose workers run for the duration of the block."""
    bridge = await build_bridge(
        settings, provider=provider, clock=clock, repliers=repliers, source=source, forwarders=forwarders
    )
    try:
        bridge.start_workers()
        yield bridge
    finally:
        await bridge.close()


async def _channel_repliers(settings: Settings, messages: StatusMessages) -> dict[Channel, Replier]:
    """The repliers of the configured channels (email, Slack); CLI jobs are told through the log."""
    # Email is always on: with no relay set, its receipts and reports go to the log.
    repliers: dict[Channel, Replier] = {Channel.EMAIL: EmailReplier(settings.relay)}
    if settings.slack.bot_token:
        repliers[Channel.SLACK] = await slack_replier(settings.slack, settings.store.data_dir, messages)
    return repliers
