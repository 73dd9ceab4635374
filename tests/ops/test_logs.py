"""Logs of a real `faxbridge serve` in JSON: one object per line, job ids, never a secret or a document."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bridge.testing import sample_pdf
from tests.helpers.processes import Sandbox, Serve, standin_settings

pytestmark = pytest.mark.slow  # real serve and stand-in processes carrying a fax to its end

SECRETS = {
    "FAXBRIDGE_RINGCENTRAL_CLIENT_SECRET": "cs-9f8e7d6c5b4a",
    "FAXBRIDGE_RINGCENTRAL_JWT": "eyJhbGciOiJSUzI1NiJ9.super-secret-jwt.sig",
    "FAXBRIDGE_SMTP_RELAY_PASSWORD": "relay-pw-123456",
    "FAXBRIDGE_SMTP_AUTH_PASSWORD": "intake-pw-654321",
}
DOCUMENT_TEXT = "CONFIDENTIAL-REFERRAL-4471"


def test_json_logs_carry_job_ids_and_no_secrets(tmp_path: Path) -> None:
    """A fax through serve logs JSON lines naming the job, and no secret or document text anywhere."""
    sandbox = Sandbox(delay=0.1)
    serve = Serve(
        tmp_path / "var",
        tmp_path / "serve.log",
        log_format="json",
        poll_seconds="0.2",
        # The secrets take the place of the stand-in's made-up credentials.
        **{
            **standin_settings(sandbox.url, "client-id"),
            **{name.removeprefix("FAXBRIDGE_").lower(): value for name, value in SECRETS.items()},
        },
    )
    try:
        serve.start()
        document = tmp_path / "referral.pdf"
        document.write_bytes(sample_pdf(1, text=DOCUMENT_TEXT))
        sent = serve.run(
            "send",
            "--to",
            "+12025550123",
            "--cover-text",
            DOCUMENT_TEXT,
            str(document),
            timeout=60,
            check=True,
        )
        job_id = sent.stdout.split()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = serve.run("jobs", "--json", check=True)
            if json.loads(jobs.stdout)[0]["state"] == "delivered":
                break
            time.sleep(0.3)
        returncode = serve.stop()
    finally:
        serve.stop()
        sandbox.stop()
    err = serve.log.read_text()
    assert returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "serve logged nothing"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about_job = [line for line in lines if line.get("job_id") == job_id]
    assert any("delivered" in line["message"] for line in about_job)
    for secret in SECRETS.values():
        assert secret not in err
    assert DOCUMENT_TEXT not in err
