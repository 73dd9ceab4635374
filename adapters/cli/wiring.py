"""The composition root: builds every part from Settings and runs the core's workers in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.cli.sandbox import forget_url, note_url
from adapters.email import EmailReplier
from adapters.email.received import MailForwarder
from adapters.ringcentral.api import call_timeout
from adapters.ringcentral.client import RingCentralProvider
from adapters.ringcentral.receiving import RingCentralFaxInbox
from adapters.ringcentral.standin import StandinConfig, start_standin
from adapters.slack import SlackReplier, slack_replier
from adapters.slack.app import web_client
from adapters.slack.received import SlackForwarder
from adapters.sqlite import SqliteJobStore
from adapters.sqlite.inbox import SqliteRequestInbox
from adapters.sqlite.received import SqliteReceivedFaxes
from bridge.delivering import Delivering, backoff
from bridge.dispatch import Dispatcher
from bridge.errors import ProviderError, StoreUnavailable
from bridge.metrics import Metrics
from bridge.model import Channel
from bridge.ports import FaxProvider, FaxReceiver, Forwarder, JobStore, ReceivedFaxes, Replier, RequestInbox
from bridge.received import DestinationKind
from bridge.receiving import Receiving
from bridge.replies import LogReplier, ReplyPump
from bridge.retry import RetryPolicy
from bridge.service import Clock, FaxService, utcnow
from bridge.settings import Settings
from bridge.tracking import Tracker
from bridge.workers import ProcessWorkers

log = logging.getLogger("faxbridge")
PURGE_EVERY = 3600.0
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
    repliers: dict[Channel, Replier]
    stack: contextlib.AsyncExitStack
    metrics: Metrics
    received: ReceivedFaxes
    delivering: Delivering
    receiving: Receiving | None = None  # None: receiving is off (no routes, not demo mode)
    provider_url: str = ""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)
    receive_every: float = 10.0  # seconds between looks at the provider's list when nothing wakes it
    _wake_receiving: asyncio.Event = field(default_factory=asyncio.Event)
    _wake_delivering: asyncio.Event = field(default_factory=asyncio.Event)

    def wake_receiving(self) -> None:
        """A webhook said a fax may have arrived: look at the provider's list now."""
        self._wake_receiving.set()

    def wake_delivering(self) -> None:
        self._wake_delivering.set()

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
            ("retention", _purge_forever(self.store, self.settings, self.received)),
            ("deliveries", _deliver_forever(self.delivering, self._wake_delivering)),
        ):
            self.tasks.append(asyncio.create_task(_guarded(name, coro), name=name))
        if self.receiving is not None:
            receiving = _receive_forever(self.receiving, self._wake_receiving, lambda: self.receive_every)
            self.tasks.append(asyncio.create_task(_guarded("receiving", receiving), name="receiving"))
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
        received = SqliteReceivedFaxes(store)
        if source is None and settings.receiving and isinstance(provider, RingCentralProvider):
            source = RingCentralFaxInbox(provider.api)
        delivering = Delivering(
            received,
            store,
            _forwarders(settings, all_repliers) if forwarders is None else forwarders,
            attach=settings.inbound_attach == "pdf",
            clock=clock,
            metrics=metrics,
            workers=workers,
            preview=settings.inbound_preview,
        )
        receiving = None
        if source is not None:
            receiving = Receiving(
                received,
                source,
                routes=settings.inbound_routes,
                reply_days=settings.inbound_reply_days,
                workers=workers,
                scratch_root=settings.incoming_dir,
                clock=clock,
                metrics=metrics,
            )
    except BaseException:
        await stack.aclose()
        raise
    bridge = Bridge(
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
        received=received,
        delivering=delivering,
        receiving=receiving,
        provider_url=provider_url,
        receive_every=settings.poll_seconds,
    )
    if receiving is not None:
        receiving.on_new = bridge.wake_delivering
    return bridge


def _forwarders(settings: Settings, repliers: dict[Channel, Replier]) -> dict[DestinationKind, Forwarder]:
    """Mail always (it says so when no relay is set); Slack when the bot token is set."""
    forwarders: dict[DestinationKind, Forwarder] = {DestinationKind.EMAIL: MailForwarder(settings)}
    slack = repliers.get(Channel.SLACK)
    if settings.slack_bot_token and isinstance(slack, SlackReplier):
        forwarders[DestinationKind.SLACK] = SlackForwarder(
            web_client(settings, settings.slack_bot_token),
            slack.book.get,
            upload_hosts=settings.slack_file_hosts,
        )
    return forwarders


async def _connect_provider(
    settings: Settings, stack: contextlib.AsyncExitStack, metrics: Metrics
) -> tuple[FaxProvider, str]:
    if settings.demo:
        # A demo plan with room for every retry of the four demo numbers in one minute (eleven
        # sends); RingCentral's own plan (ten a minute) would hold the last one back a minute.
        config = StandinConfig(delay_seconds=settings.sandbox_delay_seconds, heavy_limit=DEMO_HEAVY_LIMIT)
        standin = await start_standin("127.0.0.1", 0, config)
        stack.push_async_callback(standin.close)
        # `faxbridge sandbox receive` finds this stand-in here, to make it receive a fax.
        stack.callback(forget_url, note_url(settings.data_dir, standin.url))
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


async def _receive_forever(receiving: Receiving, woken: asyncio.Event, every: Callable[[], float]) -> None:
    """Look at the provider's list every `every()` seconds, and at once when a webhook wakes it."""
    failures = 0
    while True:
        woken.clear()
        try:
            await receiving.fetch_new()
            failures = 0
        except (ProviderError, StoreUnavailable) as exc:
            failures += 1
            log.warning("received faxes: cannot look now (%s); trying again", exc.reason)
        except Exception:
            failures += 1
            log.exception("received faxes: the look failed unexpectedly; trying again")
        wait = max(every(), backoff(failures, first=every(), most=600.0)) if failures else every()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=wait)


async def _deliver_forever(delivering: Delivering, woken: asyncio.Event) -> None:
    """Deliver what is due, then sleep until the next delivery is due or a new fax wakes it."""
    while True:
        woken.clear()
        try:
            await delivering.deliver_due()
            wait = await delivering.seconds_until_due()
        except StoreUnavailable as exc:
            log.warning("received faxes: deliveries wait for the store (%s)", exc.reason)
            wait = 5.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=PURGE_EVERY if wait is None else wait)


async def _purge_forever(store: JobStore, settings: Settings, received: ReceivedFaxes | None = None) -> None:
    while True:
        try:
            await purge_expired(store, settings, now=utcnow(), received=received)
        except StoreUnavailable as exc:
            log.warning("retention sweep skipped: %s", exc.reason)
        await asyncio.sleep(PURGE_EVERY)


async def purge_expired(
    store: JobStore, settings: Settings, *, now: datetime, received: ReceivedFaxes | None = None
) -> tuple[int, int]:
    """One retention sweep: documents, then records, of requests that ended before the retention period;
    and the documents of received faxes whose every delivery ended before it."""
    before = now - timedelta(days=settings.retention_days)
    if received is not None:
        faxes = await received.purge_received(before)
        if faxes:
            log.info("retention: removed the documents of %d received faxes", faxes)
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


def _channel_repliers(settings: Settings, stack: contextlib.AsyncExitStack) -> dict[Channel, Replier]:
    """The repliers of the configured channels (email, Slack); CLI jobs are told through the log."""
    # Email is always on: with no relay set, its receipts and reports go to the log.
    repliers: dict[Channel, Replier] = {Channel.EMAIL: EmailReplier(settings)}
    if settings.slack_bot_token:
        repliers[Channel.SLACK] = slack_replier(settings, stack)
    return repliers
