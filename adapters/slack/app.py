"""The Slack app: a bolt AsyncApp served on our own `/slack/events` route, or over Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from datetime import timedelta

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.links import LinkFetcher
from adapters.slack.faxing import Faxing
from adapters.slack.files import SlackFiles
from adapters.slack.gate import SlackGate
from adapters.slack.inbox import SlackInbox
from adapters.slack.listeners import Listeners
from adapters.slack.messages import OLD_BOOK, Poster, adopt_old_book, error_of
from adapters.slack.status import SlackReplier
from bridge.errors import ConfigError
from bridge.ports import RequestInbox, StatusMessages
from bridge.service import FaxService
from bridge.settings import Settings

log = logging.getLogger("faxbridge.slack")
EVENTS_PATH = "/slack/events"
API_TIMEOUT = 30
RATE_LIMIT_RETRIES = 5
CLOSE_WAIT = 10.0
TOKEN_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


def web_client(settings: Settings, token: str | None) -> AsyncWebClient:
    """A Web API client on FAXBRIDGE_SLACK_API_URL that waits out 429s and retries dropped connections."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=API_TIMEOUT,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )


async def slack_replier(settings: Settings, messages: StatusMessages) -> SlackReplier:
    """The Replier for Slack jobs; which message shows which job is kept in the store.

    The book older versions kept in a database of their own is brought into the store first.
    """
    await adopt_old_book(settings.data_dir / OLD_BOOK, messages)
    return SlackReplier(web_client(settings, settings.slack_bot_token), messages)


class SlackIntake:
    """The way in from Slack: listeners on a bolt AsyncApp, the inbox worker, and the small tasks they start."""

    def __init__(self, settings: Settings, service: FaxService, inbox: RequestInbox) -> None:
        if not settings.slack_bot_token:
            raise ConfigError("Slack needs FAXBRIDGE_SLACK_BOT_TOKEN (the xoxb- token of the app)")
        if not (settings.slack_signing_secret or settings.slack_app_token):
            raise ConfigError("Slack over HTTP needs FAXBRIDGE_SLACK_SIGNING_SECRET")
        self.settings = settings
        self.client = web_client(settings, settings.slack_bot_token)
        self.files = SlackFiles(self.client, settings.slack_bot_token, settings.slack_file_hosts)
        self._identity: AuthorizeResult | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: AsyncSocketModeHandler | None = None

        async def authorize() -> AuthorizeResult:
            return await self.identity()

        http = not settings.slack_app_token
        self.app = AsyncApp(
            name="faxbridge",
            client=web_client(settings, None),  # per-request clients get the token from authorize()
            signing_secret=settings.slack_signing_secret if http else None,
            request_verification_enabled=http,
            authorize=authorize,
            # Slack gets its answer only once the listener has returned, that is once the request is
            # stored: a crash before then makes Slack retry instead of losing the request.
            process_before_response=True,
        )
        # bolt logs the whole body of every badly signed request at INFO: a way to flood the log.
        logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
        gate = SlackGate(
            client=self.client,
            users=settings.slack_allowed_users,
            channels=settings.slack_allowed_channels,
            team=self.team,
        )
        faxing = Faxing(
            settings=settings,
            service=service,
            poster=Poster(self.client),
            files=self.files,
            links=LinkFetcher.from_settings(settings, workers=service.workers, metrics=service.metrics),
            gate=gate,
            bot_user_id=lambda: (self._identity.bot_user_id or "") if self._identity else "",
        )
        self.inbox = SlackInbox(
            inbox=inbox,
            faxing=faxing,
            clock=service.clock,
            retention=timedelta(days=settings.retention_days),
        )
        Listeners(faxing=faxing, inbox=self.inbox, client=self.client, spawn=self.spawn).register(self.app)

    async def identity(self) -> AuthorizeResult:
        """Who the bot is (auth.test), asked once: bolt needs it for every request."""
        if self._identity is None:
            answer = await self.client.auth_test()
            self._identity = AuthorizeResult.from_auth_test_response(
                auth_test_response=answer, bot_token=self.settings.slack_bot_token
            )
        return self._identity

    async def team(self) -> str:
        """The workspace the bot is installed in: whose full members may fax."""
        return (await self.identity()).team_id or ""

    async def start(self) -> None:
        """Check the token now, so the first request from Slack is answered without waiting; then start
        the inbox worker, which first finishes what an earlier run left."""
        try:
            await self._sign_in()
        finally:
            self.inbox.start()

    async def _sign_in(self) -> None:
        try:
            found = await self.identity()
        except SlackApiError as exc:
            if error_of(exc) in TOKEN_REFUSED:
                raise ConfigError(
                    f"Slack refused FAXBRIDGE_SLACK_BOT_TOKEN ({error_of(exc)}); "
                    "copy the Bot User OAuth Token again"
                ) from exc
            log.warning("Slack: auth.test failed (%s); trying again on the first request", error_of(exc))
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "Slack: cannot reach %s (%s); trying again on the first request",
                self.settings.slack_api_url,
                exc,
            )
            return
        log.info("Slack: signed in as bot %s in workspace %s", found.bot_user_id, found.team_id)

    def route(self) -> web.RouteDef:
        return web.post(EVENTS_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """Commands, events and interactivity: bolt checks the signature on the raw body, then acks."""
        # The server's size cap answers oversized bodies with 413; bytes that are not UTF-8 fail the signature.
        body = (await request.read()).decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = dict(request.headers)
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
        except ValueError:
            # bolt parses the body before it checks the signature; a body that is not JSON or a form
            # is refused here: 401 if it is not even signed, else 400.
            verifier = SignatureVerifier(self.settings.slack_signing_secret)
            signed = verifier.is_valid_request(body, dict(request.headers))
            return web.json_response({"error": "invalid request"}, status=400 if signed else 401)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def connect_socket_mode(self) -> None:
        """Receive Slack's requests over a WebSocket (FAXBRIDGE_SLACK_APP_TOKEN) instead of HTTP."""
        self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token, web_client=self.client)
        await self._socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack: connected over Socket Mode")

    def spawn(self, work: Awaitable[None]) -> None:
        """Run the slow part of a request after its ack, keeping a reference until it ends."""
        task = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every stored request and every background task (including ones they start) is done."""
        for _ in range(3):
            await asyncio.sleep(0)
        while True:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            await self.inbox.drain()
            if not self._tasks:
                return

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()  # type: ignore[no-untyped-call]
        # Stored requests under way stop here and are finished on the next start; a commit that has
        # begun is let finish first.
        await self.inbox.close()
        if self._tasks:
            # Forms being opened and messages being posted get a moment; they are small.
            _, late = await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.files.close()

    @staticmethod
    async def _guarded(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("Slack request failed")


async def start_slack(
    settings: Settings, service: FaxService, inbox: RequestInbox, stack: contextlib.AsyncExitStack
) -> SlackIntake:
    """Build the Slack intake on the core service and the request inbox, check its token, and close it
    with `stack`."""
    intake = SlackIntake(settings, service, inbox)
    stack.push_async_callback(intake.close)
    await intake.start()
    return intake
