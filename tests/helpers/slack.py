"""The fake Slack of tests/slack serving from its own thread, beside a `faxbridge serve` process."""

from __future__ import annotations

from tests.helpers.loops import LoopThread
from tests.slack.slack_fakes import BOT_TOKEN, FakeSlack
from tests.slack.slack_harness import SECRET


class ThreadedSlack:
    """A started `FakeSlack` (Web API and file host on loopback) in a thread with its own event loop."""

    def __init__(self) -> None:
        self.thread = LoopThread("fake-slack")
        self.fake = FakeSlack()
        self.thread.call(self.fake.start())

    def settings(self) -> dict[str, str]:
        """The settings that point a bridge at this fake Slack, over HTTP."""
        return {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SECRET,
            "slack_api_url": self.fake.api_url,
            "slack_file_hosts": self.fake.host,
        }

    def close(self) -> None:
        self.thread.call(self.fake.close())
        self.thread.close()
