"""A whole bridge on PostgreSQL: chosen by FAXBRIDGE_DATABASE_URL, faxing end to end, checked by `faxbridge check`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from adapters.cli.check import check_store
from adapters.cli.stores import describe
from adapters.cli.wiring import running
from adapters.postgres import PostgresJobStore
from bridge.findings import Level
from bridge.model import Channel, FaxRequest, Origin
from bridge.settings import Settings
from bridge.states import JobState
from bridge.testing import attached, sample_pdf
from tests.helpers.postgres import PostgresServer


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "database_url": url,
            "retry_delay_seconds": "0.3",
            "poll_seconds": "0.05",
            "sandbox_delay_seconds": "0.05",
        }
    )


async def test_a_postgresql_url_builds_a_bridge_that_faxes_end_to_end(
    postgres_url: str, tmp_path: Path
) -> None:
    """With a postgresql:// URL the bridge keeps its jobs in PostgreSQL and a fax reaches delivered (demo stand-in)."""
    settings = _settings(tmp_path, postgres_url)
    async with running(settings) as bridge:
        assert isinstance(bridge.store, PostgresJobStore)
        request = FaxRequest(
            to=("+12025550123",),
            origin=Origin(channel=Channel.CLI, sender="ann"),
            attachments=(attached("a.pdf", sample_pdf(2)),),
        )
        (job,) = (await bridge.service.accept(request)).jobs
        for _ in range(400):
            job = await bridge.store.get(job.id)
            if job.state is JobState.DELIVERED:
                break
            await asyncio.sleep(0.05)
        assert job.state is JobState.DELIVERED


async def test_check_names_the_server_version_and_schema_without_the_password(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    """`faxbridge check` opens the database, says its PostgreSQL and schema versions, and never prints a password."""
    url = postgres_url.replace("faxbridge@", "faxbridge:s3cret@")
    [finding] = await check_store(_settings(tmp_path, url))
    assert finding.level is Level.OK
    assert "PostgreSQL 1" in finding.message
    assert "schema version 2 of 2" in finding.message
    assert "s3cret" not in finding.message
    assert describe(url) == postgres_url


async def test_check_reports_an_unreachable_database_as_an_error(tmp_path: Path) -> None:
    """A database that does not answer is an ERROR finding that names the setting to fix."""
    settings = _settings(tmp_path, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    [finding] = await check_store(settings)
    assert finding.level is Level.ERROR
    assert "FAXBRIDGE_DATABASE_URL" in finding.fix


def test_send_queues_into_postgresql_from_the_command_line(postgres_url: str, tmp_path: Path) -> None:
    """`faxbridge send` with FAXBRIDGE_DATABASE_URL stores its job in PostgreSQL, where `faxbridge jobs` finds it."""
    (tmp_path / "some.pdf").write_bytes(sample_pdf(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env.update(FAXBRIDGE_DATA_DIR=str(tmp_path / "var"), FAXBRIDGE_DATABASE_URL=postgres_url)

    def faxbridge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "adapters.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    sent = faxbridge("send", "--to", "+12025550123", "some.pdf")
    assert sent.returncode == 0, sent.stderr
    listed = faxbridge("jobs", "--json")
    assert '"state": "queued"' in listed.stdout
    assert not (tmp_path / "var" / "faxbridge.db").exists()
