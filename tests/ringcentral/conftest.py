"""Fixtures of the RingCentral client tests: the stand-in in this process, a clock both read, a provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.ringcentral import RingCentralProvider
from tests.helpers.standin import ManualClock
from tests.helpers.standin_client import START, StandinRingCentral


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[StandinRingCentral]:
    ringcentral = await StandinRingCentral(clock).start()
    yield ringcentral
    await ringcentral.close()


@pytest.fixture
async def provider(fake: StandinRingCentral) -> AsyncIterator[RingCentralProvider]:
    provider = fake.provider()
    yield provider
    await provider.close()
