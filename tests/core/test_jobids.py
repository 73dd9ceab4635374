"""Job ids typed short: a prefix that fits one job names it; too short, unknown or ambiguous is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.errors import AmbiguousJobId, JobNotFound
from bridge.jobids import MIN_PREFIX, full_job_id
from bridge.model import Channel, Origin
from bridge.testing import InMemoryJobStore
from tests.conftest import Clock


async def _store_with(ids: list[str], clock: Clock) -> InMemoryJobStore:
    """A fake store holding jobs with exactly these ids."""
    store = InMemoryJobStore()
    for job_id in ids:
        job = await store.create_rejected(
            number="+12025550123", origin=Origin(channel=Channel.CLI, sender="me"), reason="x", now=clock()
        )
        row = store.rows.pop(job.id)
        row.job = replace(row.job, id=job_id)
        store.rows[job_id] = row
    return store


async def test_a_unique_prefix_names_its_job(clock: Clock) -> None:
    """Four or more leading characters that fit one job give its full id, whatever their case."""
    store = await _store_with(["abcd12340000", "abce12340000"], clock)
    assert await full_job_id(store, "abcd") == "abcd12340000"
    assert await full_job_id(store, " ABCD1 ") == "abcd12340000"
    assert await full_job_id(store, "abcd12340000") == "abcd12340000"


async def test_an_ambiguous_prefix_is_refused_naming_the_candidates(clock: Clock) -> None:
    """A prefix that fits several jobs acts on none and names them (mutation: return ids[0] anyway)."""
    store = await _store_with(["abcd12340000", "abcd56780000"], clock)
    with pytest.raises(AmbiguousJobId) as caught:
        await full_job_id(store, "abcd")
    assert "abcd12340000, abcd56780000" in caught.value.reason


async def test_a_short_prefix_is_refused_even_when_it_fits_one_job(clock: Clock) -> None:
    """Fewer than MIN_PREFIX characters are refused: a new job could soon fit them too."""
    store = await _store_with(["abcd12340000"], clock)
    with pytest.raises(AmbiguousJobId, match="too short"):
        await full_job_id(store, "a" * (MIN_PREFIX - 1))


async def test_an_unknown_prefix_is_not_found(clock: Clock) -> None:
    """A prefix no id starts with is JobNotFound, naming what was typed."""
    store = await _store_with(["abcd12340000"], clock)
    with pytest.raises(JobNotFound, match="no job ffff"):
        await full_job_id(store, "ffff")
