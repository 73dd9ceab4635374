"""The command line under a closed pipe and Ctrl-C, and job ids typed short, on the real executable."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sqlite import SqliteJobStore
from bridge.model import Channel, Document, Envelope, Origin, PreparedFax
from bridge.settings import Settings
from bridge.testing import kept
from tests.cli.conftest import Run
from tests.helpers.executable import FAXBRIDGE


def _queue(faxbridge: Run, document: Path, count: int = 1) -> list[str]:
    ids = []
    for _ in range(count):
        result = faxbridge("send", "--json", "--to", "+12025550123", str(document))
        assert result.returncode == 0, result.stderr
        ids += [job["id"] for job in json.loads(result.stdout)]
    return ids


def test_a_closed_pipe_ends_quietly_with_141(
    faxbridge: Run, tmp_path: Path, env: dict[str, str], document: Path
) -> None:
    """A reader that closed its end before `jobs --json` wrote: exit 141, no BrokenPipeError traceback."""
    _queue(faxbridge, document)
    process = subprocess.Popen(
        [str(FAXBRIDGE), "jobs", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # gone before the command has opened its store, let alone printed
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141
    assert err == ""


def test_head_reads_one_line_without_a_traceback(
    faxbridge: Run, tmp_path: Path, env: dict[str, str], document: Path
) -> None:
    """`faxbridge jobs | head -1` in a real shell prints the header and no traceback; exit 0 or 141."""
    _queue(faxbridge, document, count=3)
    shell = subprocess.run(
        ["bash", "-c", f'"{FAXBRIDGE}" jobs | head -1; echo "exit=${{PIPESTATUS[0]}}" >&2'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.stdout.split() == ["ID", "STATE", "TO", "VIA", "SENDER", "PAGES", "CREATED", "(UTC)"]
    assert "Traceback" not in shell.stderr
    assert shell.stderr.strip() in ("exit=0", "exit=141")


@pytest.mark.slow  # sends a fax through the stand-in
def test_ctrl_c_during_send_wait_exits_130_and_the_fax_goes_on(
    tmp_path: Path, env: dict[str, str], document: Path, faxbridge: Run
) -> None:
    """SIGINT while `send --wait` follows a fax: exit 130, a line saying how to follow it, and the job
    left as it was (not cancelled)."""
    env.update(FAXBRIDGE_SANDBOX_DELAY_SECONDS="60", FAXBRIDGE_POLL_SECONDS="0.1")
    process = subprocess.Popen(
        [str(FAXBRIDGE), "send", "--wait", "--to", "+12025550123", str(document)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(90, process.kill)  # a hung command fails the test instead of hanging it
    watchdog.start()
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if " submitted" in line:
                break
        job_id = seen[0].split()[0]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        watchdog.cancel()
    assert process.returncode == 130, err
    assert f"follow it with `faxbridge status {job_id}`" in err
    assert "goes on" in err
    assert "Traceback" not in err
    after = json.loads(faxbridge("status", job_id, "--json").stdout)
    assert after["state"] == "submitted"


def test_every_id_command_takes_a_unique_prefix(faxbridge: Run, document: Path) -> None:
    """status, cancel and retry act on the one job a 6-character prefix names."""
    (job_id,) = _queue(faxbridge, document)
    status = faxbridge("status", job_id[:6], "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["id"] == job_id
    cancel = faxbridge("cancel", job_id[:6])
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.split() == [job_id, "cancelled"]
    retry = faxbridge("retry", job_id[:6].upper())
    assert retry.returncode == 1  # found, and refused for what it is: only failed jobs can be retried
    assert f"job {job_id} is cancelled" in retry.stderr
    resolve = faxbridge("resolve", job_id[:6], "--sent")
    assert resolve.returncode == 1
    assert f"job {job_id} is cancelled" in resolve.stderr


def test_unknown_short_and_ambiguous_ids_are_one_line_errors(
    faxbridge: Run, tmp_path: Path, document: Path
) -> None:
    """An unknown prefix exits 1; one too short or fitting several jobs exits 2 naming them; none acts."""
    _queue(faxbridge, document)
    shared = asyncio.run(
        _two_jobs_sharing_a_prefix(Settings.from_mapping({"data_dir": str(tmp_path / "var")}))
    )
    unknown = faxbridge("status", "zzzz")
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip()
        == "faxbridge: no job zzzz: no job id starts with it (`faxbridge jobs` lists them)"
    )
    short = faxbridge("cancel", shared[:3])
    assert short.returncode == 2
    assert "too short" in short.stderr
    for command in ("status", "cancel", "retry"):
        ambiguous = faxbridge(command, shared)
        assert ambiguous.returncode == 2
        assert len(ambiguous.stderr.strip().splitlines()) == 1
        assert f"job id {shared} fits several jobs" in ambiguous.stderr
    states = {job["state"] for job in json.loads(faxbridge("jobs", "--json", "--limit", "1000").stdout)}
    assert "cancelled" not in states


async def _two_jobs_sharing_a_prefix(settings: Settings) -> str:
    """Queue jobs straight into the command's store until two ids share their first four characters."""
    store = SqliteJobStore(settings.database_path, settings.spool_dir)
    await store.open()
    try:
        while True:
            numbers = [f"+1202555{n:04d}" for n in range(300)]
            prepared = PreparedFax(
                envelope=Envelope(),
                documents=(
                    Document(name="a.pdf", content_type="application/pdf", pages=1, content=kept(b"%PDF")),
                ),
            )
            await store.create_jobs(
                numbers=numbers,
                prepared=prepared,
                origin=Origin(channel=Channel.CLI, sender="me"),
                idempotency_key=None,
                now=datetime.now(UTC),
            )
            counts = Counter(job_id[:4] for job_id in await store.ids_starting("", limit=100_000))
            shared = [prefix for prefix, count in counts.items() if count > 1]
            if shared:
                return shared[0]
    finally:
        await store.close()
