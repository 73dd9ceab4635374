"""Fixtures of the RingCentral client tests: a clock tests move, the fake RingCentral, and a provider on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_client_fakeserver import FakeClock, FakeRingCentral, provider_on

from adapters.ringcentral import RingCentralProvider


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeRingCentral:
    return FakeRingCentral(clock)


@pytest.fixture
async def provider(fake: FakeRingCentral, clock: FakeClock) -> AsyncIterator[RingCentralProvider]:
    provider = provider_on(fake, clock)
    yield provider
    await provider.close()
