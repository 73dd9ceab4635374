"""`serve` with a RingCentral webhook: status arrives by push, not by polling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from adapters.cli.serve import serve
from adapters.cli.wiring import Bridge
from adapters.ringcentral.standin import StandinConfig, start_standin
from bridge.model import Channel, FaxRequest, Origin
from bridge.settings import Settings
from bridge.states import JobState
from bridge.testing import attached, sample_pdf
from tests.helpers.ports import free_port


async def test_webhook_notices_drive_status_without_polling(tmp_path: Path) -> None:
    """With a webhook URL, serve subscribes (handshake included) and a fax is delivered on pushed notices alone."""
    standin = await start_standin("127.0.0.1", 0, StandinConfig(delay_seconds=0.1))
    port = free_port()
    settings = Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "provider": "ringcentral",
            "ringcentral_server_url": standin.url,
            "ringcentral_client_id": "id",
            "ringcentral_client_secret": "secret",
            "ringcentral_jwt": "jwt",
            "ringcentral_webhook_url": f"http://127.0.0.1:{port}/ringcentral/webhook",
            "http_port": str(port),
            "smtp_port": "0",
            "poll_seconds": "600",  # polling alone would take ten minutes
        }
    )
    ready: asyncio.Future[Bridge] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready.set_result, stop=stop))
    try:
        bridge = await asyncio.wait_for(ready, 20)
        assert len(standin.standin.subscriptions.live()) == 1
        request = FaxRequest(
            to=("+12025550123",),
            origin=Origin(channel=Channel.CLI, sender="ann"),
            attachments=(attached("a.pdf", sample_pdf(1)),),
        )
        (job,) = (await bridge.service.accept(request)).jobs
        for _ in range(100):
            if (await bridge.store.get(job.id)).state is JobState.DELIVERED:
                break
            await asyncio.sleep(0.1)
        assert (await bridge.store.get(job.id)).state is JobState.DELIVERED
        async with httpx.AsyncClient() as client:
            forged = await client.post(f"http://127.0.0.1:{port}/ringcentral/webhook", json={"event": "x"})
        assert forged.status_code == 403
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await standin.close()
