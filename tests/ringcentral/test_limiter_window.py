"""The rate limiter: sliding windows per group, learned limits, and the 429 penalty that blocks everything."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.ringcentral.limiter import RateLimiter, arrival_margin
from bridge.errors import ProviderTransient
from tests.helpers.standin import ManualClock
from tests.helpers.standin_client import (
    FAX_PATH,
    STORE,
    FakeStore,
    StandinRingCentral,
    make_fax,
    rate_limited,
)

M60 = arrival_margin(60)  # the limiter waits this much past a 60-second window


@pytest.fixture
def limiter(clock: ManualClock) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep)


async def times_of(limiter: RateLimiter, clock: ManualClock, group: str, count: int) -> list[float]:
    sent = []
    for _ in range(count):
        await limiter.acquire(group)
        sent.append(clock.now - clock.start)
    return sent


async def test_heavy_group_allows_ten_a_minute(limiter: RateLimiter, clock: ManualClock) -> None:
    """Ten fax sends go 6 s apart, the window shared evenly; the eleventh waits until the first leaves it.

    Mutation caught: sending a spaced group's requests in a burst (the uploads of a burst reach the
    server spread out, and the next window's sends then land inside the server's window: 429).
    """
    assert await times_of(limiter, clock, "heavy", 11) == [6.0 * i for i in range(10)] + [60.0 + M60]


async def test_window_slides_rather_than_resets(limiter: RateLimiter, clock: ManualClock) -> None:
    """Spread-out requests free their slots one by one as each turns a minute old."""
    for _ in range(10):
        await limiter.acquire("heavy")
        clock.now += 7
    assert clock.now - clock.start == 70
    assert await times_of(limiter, clock, "heavy", 2) == [70.0, 76.0]
    # The sends of 0 and 7 s have left the window: the next one waits only for the spacing.
    assert await times_of(limiter, clock, "heavy", 1) == [82.0]


async def test_light_group_is_separate_from_heavy(limiter: RateLimiter, clock: ManualClock) -> None:
    """A full Heavy window does not hold back message-store reads (Light, 50 a minute)."""
    await times_of(limiter, clock, "heavy", 10)
    begun = clock.now - clock.start
    assert await times_of(limiter, clock, "light", 50) == [begun] * 50
    assert limiter.delay("light") == 60.0 + M60


async def test_headers_teach_the_real_limit(limiter: RateLimiter, clock: ManualClock) -> None:
    """X-Rate-Limit-Limit and -Window replace the defaults, whatever the case of the group name."""
    await limiter.acquire("heavy")
    limiter.observe(
        "heavy",
        {
            "X-Rate-Limit-Group": "Heavy",
            "X-Rate-Limit-Limit": "3",
            "X-Rate-Limit-Remaining": "2",
            "X-Rate-Limit-Window": "30",
        },
    )
    assert await times_of(limiter, clock, "heavy", 3) == [10.0, 20.0, 30.0 + arrival_margin(30)]


async def test_remaining_from_the_server_counts_other_senders(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    """When the server says no budget remains (another process spent it), the next request waits."""
    await limiter.acquire("heavy")
    limiter.observe(
        "heavy",
        {"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Window": "60"},
    )
    assert limiter.delay("heavy") == 60.0 + M60


async def test_server_group_names_join_calls_of_the_same_group(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    """Two call kinds the server puts in one group share one budget once the headers say so."""
    headers = {"X-Rate-Limit-Group": "light", "X-Rate-Limit-Limit": "2", "X-Rate-Limit-Window": "60"}
    await limiter.acquire("light")
    limiter.observe("light", {**headers, "X-Rate-Limit-Remaining": "1"})
    await limiter.acquire("renewals")
    limiter.observe("renewals", {**headers, "X-Rate-Limit-Remaining": "0"})
    assert limiter.delay("light") == 60.0 + M60
    assert limiter.delay("renewals") == 60.0 + M60


async def test_penalty_blocks_every_group(limiter: RateLimiter, clock: ManualClock) -> None:
    """After a 429 nothing of any group goes out until Retry-After has passed."""
    limiter.penalize(25)
    for group in ("heavy", "light", "medium", "auth"):
        assert limiter.delay(group) == 25
    assert not limiter.try_acquire("auth")
    await limiter.acquire("light")
    assert clock.now - clock.start == 25


async def test_penalty_without_retry_after_lasts_a_minute(limiter: RateLimiter, clock: ManualClock) -> None:
    """A 429 without Retry-After blocks for 60 seconds."""
    assert limiter.penalize(None) == 60
    assert limiter.penalty_remaining() == 60


async def test_penalty_seen_while_waiting_extends_the_wait(clock: ManualClock) -> None:
    """A waiter re-checks after sleeping, so a second 429 meanwhile keeps it waiting longer."""
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if not gate.is_set():
            gate.set()
            waiting.penalize(30)  # another call got a 429 while this one slept

    waiting = RateLimiter(clock=clock, sleep=sleep)
    waiting.penalize(10)
    await waiting.acquire("heavy")
    assert clock.now - clock.start == 40


async def test_provider_sends_nothing_during_a_429_penalty(
    clock: ManualClock, fake: StandinRingCentral, tmp_path: Path
) -> None:
    """A 429 to a fax POST raises with retry_after; the next calls, of any group, wait it out first."""
    provider = fake.provider()
    store = FakeStore(tmp_path)
    fax = make_fax(store, store.add("a.pdf", "application/pdf", b"%PDF-1.4"))
    fake.inject(FAX_PATH, rate_limited(retry_after="30"))
    with pytest.raises(ProviderTransient) as caught:
        await provider.submit(fax)
    assert caught.value.retry_after == 30
    assert caught.value.may_have_sent is False
    refused_at = fake.requests_to(FAX_PATH)[0].at

    await provider.status(["3000000001"])
    await provider.submit(fax)
    assert fake.penalty_violations() == 0
    after = [s.at for s in fake.seen if s.at > refused_at]
    assert after and min(after) >= refused_at + 30
    await provider.close()


async def test_provider_missing_retry_after_waits_sixty_seconds(
    clock: ManualClock, fake: StandinRingCentral
) -> None:
    """A 429 without Retry-After keeps the provider silent for a full minute."""
    provider = fake.provider()
    fake.inject(STORE, rate_limited(retry_after=None))
    with pytest.raises(ProviderTransient) as caught:
        await provider.status(["1"])
    assert caught.value.retry_after is None
    first = clock.now
    await provider.status(["1"])
    assert fake.seen[-1].at - first >= 60
    assert fake.penalty_violations() == 0
    await provider.close()


async def test_provider_keeps_under_the_heavy_limit_on_its_own(
    clock: ManualClock, fake: StandinRingCentral, tmp_path: Path
) -> None:
    """Twelve faxes in a row never trip the server's limit: spaced over the window, the last two wait for it."""
    provider = fake.provider()
    store = FakeStore(tmp_path)
    fax = make_fax(store, store.add("a.pdf", "application/pdf", b"%PDF-1.4"))
    for _ in range(12):
        await provider.submit(fax)
    sends = [s.at - clock.start for s in fake.requests_to(FAX_PATH)]
    assert sends == [6.0 * i for i in range(10)] + [60.0 + M60, 66.0 + M60]
    assert fake.penalty_violations() == 0
    assert len(fake.faxes) == 12
    await provider.close()
