"""Logs of a real `faxbridge serve` in JSON: one object per line, job ids, never a secret or a document."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bridge.testing import sample_pdf

SECRETS = {
    "FAXBRIDGE_RINGCENTRAL_CLIENT_SECRET": "cs-9f8e7d6c5b4a",
    "FAXBRIDGE_RINGCENTRAL_JWT": "eyJhbGciOiJSUzI1NiJ9.super-secret-jwt.sig",
    "FAXBRIDGE_SMTP_RELAY_PASSWORD": "relay-pw-123456",
    "FAXBRIDGE_SMTP_AUTH_PASSWORD": "intake-pw-654321",
}
DOCUMENT_TEXT = "CONFIDENTIAL-REFERRAL-4471"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env.update(FAXBRIDGE_DATA_DIR=str(tmp_path / "var"), **extra)
    return env


def test_json_logs_carry_job_ids_and_no_secrets(tmp_path: Path) -> None:
    """A fax through serve logs JSON lines naming the job, and no secret or document text anywhere."""
    port = _free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "sandbox", "--port", str(port)],
        env=_env(tmp_path, FAXBRIDGE_SANDBOX_DELAY_SECONDS="0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    env = _env(
        tmp_path,
        FAXBRIDGE_LOG_FORMAT="json",
        FAXBRIDGE_PROVIDER="ringcentral",
        FAXBRIDGE_RINGCENTRAL_SERVER_URL=f"http://127.0.0.1:{port}",
        FAXBRIDGE_RINGCENTRAL_CLIENT_ID="client-id",
        FAXBRIDGE_HTTP_PORT="0",
        FAXBRIDGE_SMTP_PORT="0",
        FAXBRIDGE_POLL_SECONDS="0.2",
        **SECRETS,
    )
    serve = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        document = tmp_path / "referral.pdf"
        document.write_bytes(sample_pdf(1, text=DOCUMENT_TEXT))
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "adapters.cli",
                "send",
                "--to",
                "+12025550123",
                "--cover-text",
                DOCUMENT_TEXT,
                str(document),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        job_id = sent.stdout.split()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = subprocess.run(
                [sys.executable, "-m", "adapters.cli", "jobs", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            if json.loads(jobs.stdout)[0]["state"] == "delivered":
                break
            time.sleep(0.3)
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    finally:
        for process in (serve, sandbox):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert serve.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "serve logged nothing"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about_job = [line for line in lines if line.get("job_id") == job_id]
    assert any("delivered" in line["message"] for line in about_job)
    for secret in SECRETS.values():
        assert secret not in err
    assert DOCUMENT_TEXT not in err
