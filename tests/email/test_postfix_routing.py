"""A real Postfix routes the fax domain to the bridge with a transport map, as deploy/postfix/README.md says.

The instance is private: its own configuration and queue directories, loopback ports only, no
DNS. Without Postfix the test is skipped on a developer's machine and fails in CI (CI=true),
where .ci/run installs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import smtplib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.model import DocumentRole
from bridge.states import JobState
from bridge.testing import sample_pdf
from tests.email.conftest import Harness, mail
from tests.helpers.ports import free_port
from tests.helpers.postfix import PrivatePostfix, routing_lines
from tests.helpers.postfix import binary as postfix_binary

pytestmark = pytest.mark.postfix

POSTFIX = postfix_binary()
DEPLOY_README = Path(__file__).parents[2] / "deploy" / "postfix" / "README.md"


def _require_postfix() -> str:
    if POSTFIX is None:
        message = "Postfix is not installed; .ci/run installs it (apt-get install postfix)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " - in CI this test must run, not be skipped")
        pytest.skip(message)
    if os.geteuid() != 0:
        message = "starting a private Postfix needs root"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " - in CI this test must run, not be skipped")
        pytest.skip(message)
    return POSTFIX


@pytest.fixture
def postfix_dir() -> Iterator[Path]:
    """A directory Postfix's own user can reach (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="faxbridge-postfix-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def _wait_for_job(harness: Harness, postfix: PrivatePostfix, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        jobs = await harness.jobs(JobState.QUEUED)
        if jobs:
            return jobs[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no job reached the bridge through Postfix; its log:\n{postfix.log()}")


async def test_postfix_routes_the_fax_domain_to_the_bridge(harness: Harness, postfix_dir: Path) -> None:
    """A mail sent into Postfix for <number>@fax.localhost is relayed by the transport map and faxed."""
    binary = _require_postfix()
    assert binary
    postfix = PrivatePostfix(
        fax_domain="fax.localhost",
        transport=f"smtp:[127.0.0.1]:{harness.port}",
        listen_port=free_port(),
        root=postfix_dir,
    )
    await asyncio.to_thread(postfix.start)
    try:
        raw = mail(
            subject="Through Postfix", attachments=[("contract.pdf", sample_pdf(2), "application/pdf")]
        )

        def submit() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", postfix.listen_port, timeout=20) as client:
                return client.sendmail("ann@example.com", ["12025550123@fax.localhost"], raw)

        refused = await asyncio.to_thread(submit)
        assert refused == {}
        job = await _wait_for_job(harness, postfix)
        assert job.to == "+12025550123"
        assert [d.name for d in job.documents if d.role is DocumentRole.DOCUMENT] == ["contract.pdf"]
        assert job.origin.sender == "ann@example.com"
        assert job.origin.reply["subject"] == "Through Postfix"
    finally:
        await asyncio.to_thread(postfix.stop)


def test_deploy_readme_shows_the_lines_this_test_uses() -> None:
    """The operator's README gives the same relay_domains and transport_maps lines the test runs Postfix with."""
    text = DEPLOY_README.read_text()
    assert "relay_domains = fax.example.com" in text
    assert "transport_maps = inline:{ fax.example.com=smtp:[127.0.0.1]:2525 }" in text
    lines = routing_lines("fax.example.com", "smtp:[127.0.0.1]:2525")
    assert f"relay_domains = {lines['relay_domains']}" in text
    assert f"transport_maps = {lines['transport_maps']}" in text
