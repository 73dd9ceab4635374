"""Fixtures for the Slack tests: a bridge with Slack over HTTP against a fresh fake Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.slack.slack_harness import SlackBridge, slack_bridge


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[SlackBridge]:
    async with slack_bridge(tmp_path) as harness:
        yield harness
