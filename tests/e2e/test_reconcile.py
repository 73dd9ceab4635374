"""Start-up reconciliation of jobs a crash left in `submitting`, against the real stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.cli.wiring import build_bridge
from adapters.ringcentral.client import RingCentralProvider
from adapters.ringcentral.standin import RunningStandin, StandinConfig, start_standin
from bridge.clock import utcnow
from bridge.model import Channel, FaxRequest, Origin
from bridge.ports import OutboundFax
from bridge.settings import Settings
from bridge.states import JobState
from bridge.testing import attached, sample_pdf
from tests.helpers.standin import FAX_PATH, bearer, envelope_files, login


@pytest.fixture
async def standin() -> AsyncIterator[RunningStandin]:
    running = await start_standin("127.0.0.1", 0, StandinConfig(delay_seconds=0.05))
    yield running
    await running.close()


def _settings(tmp_path: Path, standin: RunningStandin) -> Settings:
    return Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "provider": "ringcentral",
            "ringcentral_server_url": standin.url,
            "ringcentral_client_id": "id",
            "ringcentral_client_secret": "secret",
            "ringcentral_jwt": "jwt",
            "submit_timeout_seconds": "0",
        }
    )


async def _crash_while_submitting(settings: Settings, *, post_arrives: bool) -> str:
    """Queue a fax, claim it, optionally let the POST reach the provider, then 'crash'."""
    bridge = await build_bridge(settings)
    try:
        request = FaxRequest(
            to=("+12025550123",),
            origin=Origin(channel=Channel.CLI, sender="ann"),
            attachments=(attached("a.pdf", sample_pdf(1)),),
        )
        (job,) = (await bridge.service.accept(request)).jobs
        claimed = await bridge.store.claim_due(utcnow(), lease_until=utcnow())
        assert claimed is not None
        if post_arrives:
            claimed = await bridge.dispatcher.ready(claimed)
            fax = OutboundFax(
                job_id=job.id,
                to=job.to,
                envelope=claimed.envelope,
                documents=claimed.documents,
                open=bridge.store.open_document,
            )
            assert isinstance(bridge.provider, RingCentralProvider)
            await bridge.provider.submit(fax)  # the answer is never recorded: the process dies here
        return job.id
    finally:
        await bridge.close()


async def test_submission_that_reached_the_provider_is_not_sent_again(
    tmp_path: Path, standin: RunningStandin
) -> None:
    """A job left submitting whose POST arrived is matched to that fax after restart; nothing is resent."""
    settings = _settings(tmp_path, standin)
    job_id = await _crash_while_submitting(settings, post_arrives=True)
    bridge = await build_bridge(settings)
    try:
        await bridge.dispatcher.run_until_idle()
        job = await bridge.store.get(job_id)
        assert job.state is JobState.SUBMITTED
        assert job.provider_id == str(standin.standin.messages[0].id)
        assert "after an interrupted submission" in (job.reason or "")
    finally:
        await bridge.close()
    assert len(standin.standin.messages) == 1


async def test_submission_that_never_arrived_is_sent_once(tmp_path: Path, standin: RunningStandin) -> None:
    """A job left submitting whose POST never arrived is sent exactly once after restart."""
    settings = _settings(tmp_path, standin)
    job_id = await _crash_while_submitting(settings, post_arrives=False)
    bridge = await build_bridge(settings)
    try:
        await bridge.dispatcher.run_until_idle()
        job = await bridge.store.get(job_id)
        assert job.state is JobState.SUBMITTED
        assert [h.state for h in job.history][-3:] == [
            JobState.QUEUED,
            JobState.SUBMITTING,
            JobState.SUBMITTED,
        ]
    finally:
        await bridge.close()
    assert len(standin.standin.messages) == 1


async def test_a_colleagues_fax_to_the_same_number_is_not_adopted(
    tmp_path: Path, standin: RunningStandin
) -> None:
    """A colleague's fax of another page count to the same number is not taken for the lost one; the job is sent once."""
    settings = _settings(tmp_path, standin)
    job_id = await _crash_while_submitting(settings, post_arrives=False)
    async with httpx.AsyncClient(base_url=standin.url) as client:
        token = await login(client)
        files = envelope_files(["+12025550123"], [("memo.pdf", sample_pdf(5), "application/pdf")])
        sent = await client.post(FAX_PATH, files=files, headers=bearer(token))
        sent.raise_for_status()
    colleague = str(sent.json()["id"])
    await asyncio.sleep(0.3)  # the stand-in takes it in and counts its pages
    bridge = await build_bridge(settings)
    try:
        await bridge.dispatcher.run_until_idle()
        job = await bridge.store.get(job_id)
        assert job.state is JobState.SUBMITTED
        assert job.provider_id not in (None, colleague)
        assert "never reached RingCentral" in " ".join(h.reason or "" for h in job.history)
    finally:
        await bridge.close()
    assert len(standin.standin.messages) == 2
