"""The stand-in as a process: `run_standin` in its own interpreter, and state kept across restarts."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from adapters.ringcentral.standin import Standin, StandinConfig, start_standin
from tests.helpers.standin import (
    FAX_PATH,
    STORE_PATH,
    ManualClock,
    bearer,
    checked_client,
    envelope_files,
    load_schemas,
    login,
)

ROOT = Path(__file__).parents[2]
SCHEMAS = ROOT / "tests" / "data" / "ringcentral" / "openapi-fax-subset.yaml"


async def test_run_standin_prints_its_url_and_stops_on_sigterm() -> None:
    """`run_standin` serves until SIGTERM, printing a URL another process can drive it through."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from adapters.ringcentral.standin import run_standin; run_standin('127.0.0.1', 0)",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("RingCentral stand-in listening on http://127.0.0.1:")
        url = line.split()[4]
        async with checked_client(url, load_schemas(SCHEMAS)) as client:
            summary = (await client.get("/_standin")).json()
            token = await login(client)
            sent = await client.post(
                FAX_PATH, files=envelope_files(["+12025550123"], []), headers=bearer(token)
            )
        assert summary["mailbox"]["extension_id"] == "400100002"
        assert sent.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


async def test_state_file_keeps_faxes_across_a_restart(tmp_path: Path) -> None:
    """With state_file set, a restarted stand-in still knows earlier faxes, and their status moves on."""
    clock = ManualClock()
    config = StandinConfig(delay_seconds=2.0, state_file=tmp_path / "standin.json")
    async with (
        await start_standin(standin=Standin(config, clock=clock)) as first,
        checked_client(first.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)
        files = envelope_files(["+12025550101"], [("a.txt", b"hello", "text/plain")], coverIndex=0)
        sent = (await client.post(FAX_PATH, files=files, headers=bearer(token))).json()
    clock.advance(5)
    async with (
        await start_standin(standin=Standin(config, clock=clock)) as second,
        checked_client(second.url, load_schemas(SCHEMAS)) as client,
    ):
        token = await login(client)
        record = (await client.get(f"{STORE_PATH}/{sent['id']}", headers=bearer(token))).json()
        again = (
            await client.post(FAX_PATH, files=envelope_files(["+12025550123"], []), headers=bearer(token))
        ).json()
    assert (record["messageStatus"], record["to"][0]["faxErrorCode"]) == ("SendingFailed", "LineBusy")
    assert record["creationTime"] == sent["creationTime"]
    assert again["id"] == sent["id"] + 1
    (restored, _) = second.standin.messages
    assert restored.parts[0]["filename"] == "a.txt"
    assert restored.documents == ()  # bytes are never written to the state file
