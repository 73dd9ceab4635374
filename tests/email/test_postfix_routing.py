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
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.model import DocumentRole
from bridge.states import JobState
from bridge.testing import sample_pdf
from tests.email.conftest import Harness, free_port, mail

pytestmark = pytest.mark.postfix

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None)
DEPLOY_README = Path(__file__).parents[2] / "deploy" / "postfix" / "README.md"

# The services a relay-only Postfix needs; nothing chrooted, nothing listening beyond loopback.
MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


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


def routing_lines(fax_domain: str, bridge_port: int) -> dict[str, str]:
    """The two main.cf lines of deploy/postfix/README.md, for this domain and port."""
    return {
        "relay_domains": fax_domain,
        "transport_maps": f"inline:{{ {fax_domain}=smtp:[127.0.0.1]:{bridge_port} }}",
    }


class PrivatePostfix:
    """A throwaway Postfix instance: `postfix -c <dir> start` with everything under one directory."""

    def __init__(self, binary: str, root: Path, *, listen_port: int, bridge_port: int) -> None:
        self.binary = binary
        self.root = root
        self.config = root / "conf"
        self.listen_port = listen_port
        self.bridge_port = bridge_port

    def write_config(self) -> None:
        self.config.mkdir(parents=True)
        (self.root / "queue").mkdir()  # `postfix check` makes the rest with Postfix's own owners
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "maillog_file": str(self.root / "maillog"),
            "maillog_file_prefixes": str(self.root),
            "myhostname": "postfix-test.localhost",
            "mydomain": "localhost",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "biff": "no",
            **routing_lines("fax.localhost", self.bridge_port),
        }
        (self.config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.config / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.listen_port}"))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self) -> None:
        self.write_config()
        for step in (("check",), ("start",)):
            done = self.run(*step)
            if done.returncode != 0:
                raise AssertionError(f"postfix {step[0]} failed: {done.stdout}{done.stderr}{self.log()}")

    def stop(self) -> None:
        done = self.run("stop")
        if done.returncode != 0:
            self.run("abort")

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


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
    postfix = PrivatePostfix(binary, postfix_dir, listen_port=free_port(), bridge_port=harness.port)
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
    lines = routing_lines("fax.example.com", 2525)
    assert f"relay_domains = {lines['relay_domains']}" in text
    assert f"transport_maps = {lines['transport_maps']}" in text
