"""Fixtures of the RingCentral client tests: a clock tests move, the fake RingCentral, and a provider on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_client_fakeserver import CLIENT_ID, CLIENT_SECRET, JWT, SERVER, FakeClock, FakeRingCentral

from adapters.ringcentral import RingCentralProvider
from bridge.metrics import Metrics


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeRingCentral:
    return FakeRingCentral(clock)


@pytest.fixture
async def provider(fake: FakeRingCentral, clock: FakeClock) -> AsyncIterator[RingCentralProvider]:
    provider = RingCentralProvider(
        SERVER,
        CLIENT_ID,
        CLIENT_SECRET,
        JWT,
        transport=fake.transport(),
        clock=clock,
        sleep=clock.sleep,
        metrics=Metrics(),
    )
    yield provider
    await provider.close()
