"""A world of real processes for one test: stand-ins, relays, fake Slacks and `faxbridge serve`, all stopped after.

Each part is made on demand and stopped, last made first, when the world closes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.helpers.processes import Sandbox, Serve, standin_settings
from tests.helpers.relays import BackgroundRelay, relay_settings
from tests.helpers.slack import ThreadedSlack

FAX_DOMAIN = "fax.test"

# Short timings so faults and restarts play out in seconds.
FAST = {
    "fax_domain": FAX_DOMAIN,
    "allowed_senders": "@example.com",
    # These tests are about faults, not forgery: unsigned mail from the allowlist is trusted
    # (sender authentication has its own tests in tests/email).
    "sender_auth": "none",
    "poll_seconds": "0.2",
    "retry_delay_seconds": "0.5",
    "submit_timeout_seconds": "3",
    "provider_timeout_seconds": "2",
    "reply_retry_seconds": "0.5",
    "cover": "none",
}


class World:
    """Real processes on loopback for one test; `close()` stops every one of them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._stops: list[Callable[[], object]] = []

    def sandbox(self, *, delay: float) -> Sandbox:
        """A running stand-in whose limits stay out of the way, logging to sandbox.log."""
        sandbox = Sandbox(self.tmp / "sandbox.log", delay=delay)
        self._stops.append(sandbox.stop)
        return sandbox

    def relay(self, *, started: bool = True) -> BackgroundRelay:
        """A capturing relay for status mails; not started means it is down until `start()`."""
        relay = BackgroundRelay()
        if started:
            relay.start()
        self._stops.append(relay.stop)
        return relay

    def slack(self) -> ThreadedSlack:
        """A fake Slack serving from its own thread."""
        slack = ThreadedSlack()
        self._stops.append(slack.close)
        return slack

    def serve(self, sandbox: Sandbox, relay: BackgroundRelay | None, **settings: str) -> Serve:
        """A (not yet started) serve on the stand-in, with fast timings, telling `relay` if given."""
        wired = {**FAST, **standin_settings(sandbox.url, "reliability")}
        if relay is not None:
            wired |= relay_settings(relay.port)
        serve = Serve(self.tmp / "var", self.tmp / "serve.log", **{**wired, **settings})
        self._stops.append(serve.stop)
        return serve

    def mail(self, *, delay: float) -> tuple[Sandbox, BackgroundRelay, Serve]:
        """A stand-in, a running capturing relay and a (not yet started) serve wired to both."""
        sandbox = self.sandbox(delay=delay)
        relay = self.relay()
        return sandbox, relay, self.serve(sandbox, relay)

    def close(self) -> None:
        while self._stops:
            self._stops.pop()()

    def __enter__(self) -> World:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
