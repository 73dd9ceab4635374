"""Latency on an idle bridge: from SMTP 250, and from a Slack view submission, to the provider's POST.

Also how long Slack waits for its answer to the submission (the request is stored before it is
answered; Slack gives up after 3 s). Baseline: the same path's floor measured in this run, a
direct POST to the stand-in.
"""

from __future__ import annotations

import json
import smtplib
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.common import (
    FAX_DOMAIN,
    fax_mail,
    pdf_of_size,
    percentile,
    show,
    start_sandbox,
    start_serve,
    write_result,
)
from tests.helpers.processes import Sandbox, Serve
from tests.helpers.slack import ThreadedSlack
from tests.helpers.waiting import wait_for
from tests.slack.slack_harness import SECRET

ROUNDS = 30
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "slack"


def _post_times(sandbox: Sandbox) -> list[float]:
    return sorted(
        float(r["at"]) for r in sandbox.requests() if r["path"].endswith("/fax") and r["status"] == 200
    )


def _smtp(serve: Serve, sandbox: Sandbox) -> list[float]:
    attachment = pdf_of_size(100 * 1024)
    latencies = []
    for index in range(ROUNDS):
        before = len(_post_times(sandbox))
        to = f"12025550{110 + index}"
        raw = fax_mail(index, attachment, to=to)
        with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=60) as client:
            client.sendmail("bench@example.com", [f"{to}@{FAX_DOMAIN}"], raw)
            answered = time.time()  # the 250 has just come back
        wait_for(lambda before=before: len(_post_times(sandbox)) > before, 30, "the POST")
        latencies.append((_post_times(sandbox)[-1] - answered) * 1000)
        time.sleep(0.2)  # idle between faxes
    return latencies


def _slack(serve: Serve, sandbox: Sandbox, slack: ThreadedSlack) -> tuple[list[float], list[float]]:
    """(submission -> POST, submission -> Slack's answer) in ms, per round."""
    from slack_sdk.signature import SignatureVerifier

    template = json.loads((DATA / "view_submission.json").read_text())
    latencies, answers = [], []
    for index in range(ROUNDS):
        before = len(_post_times(sandbox))
        file = slack.fake.add_file(f"F0BENCH{index}", f"bench{index}.pdf", pdf_of_size(100 * 1024))
        body = json.loads(json.dumps(template))
        body["view"]["id"] = f"V0BENCH{index:04d}"
        body["view"]["hash"] = f"bench-{index}"
        values = body["view"]["state"]["values"]
        values["files"]["files"]["files"] = [file]
        values["number"]["number"]["value"] = f"+1 202 555 0{110 + index}"
        raw = urlencode({"payload": json.dumps(body)})
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=raw),
        }
        submitted = time.time()
        answer = httpx.post(
            f"http://127.0.0.1:{serve.http_port}/slack/events", content=raw, headers=headers, timeout=10
        )
        answers.append((time.time() - submitted) * 1000)
        if answer.status_code != 200 or answer.text:
            raise RuntimeError(f"view submission refused: {answer.status_code} {answer.text}")
        wait_for(lambda before=before: len(_post_times(sandbox)) > before, 30, "the POST")
        latencies.append((_post_times(sandbox)[-1] - submitted) * 1000)
        time.sleep(0.2)
    return latencies, answers


def _floor(sandbox: Sandbox) -> list[float]:
    """A direct multipart POST to the stand-in with a fresh token: the least any bridge could take."""
    files = [
        ("json", ("request.json", json.dumps({"to": [{"phoneNumber": "+12025550123"}]}), "application/json"))
    ]
    attachment = pdf_of_size(100 * 1024)
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        token = client.post(
            "/restapi/oauth/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x"},
            auth=("bench", "bench"),
        ).json()["access_token"]
        times = []
        for _ in range(ROUNDS):
            started = time.time()
            client.post(
                "/restapi/v1.0/account/~/extension/~/fax",
                files=[*files, ("attachment", ("a.pdf", attachment, "application/pdf"))],
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
            times.append((time.time() - started) * 1000)
    return times


def run() -> dict[str, Any]:
    slack = ThreadedSlack()
    sandbox = start_sandbox(delay=0.5)
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-latency-") as tmp:
        serve = start_serve(
            Path(tmp) / "var",
            sandbox.url,
            cover="none",
            **slack.settings(),
        )
        try:
            smtp = _smtp(serve, sandbox)
            via_slack, slack_answers = _slack(serve, sandbox, slack)
            floor = _floor(sandbox)
        finally:
            serve.stop()
            sandbox.stop()
            slack.close()
    figures = {
        "rounds": ROUNDS,
        "smtp_250_to_post_ms": {
            "p50": round(percentile(smtp, 0.5), 1),
            "p99": round(percentile(smtp, 0.99), 1),
        },
        "slack_submission_to_post_ms": {
            "p50": round(percentile(via_slack, 0.5), 1),
            "p99": round(percentile(via_slack, 0.99), 1),
        },
        "slack_submission_answered_ms": {
            "p50": round(percentile(slack_answers, 0.5), 1),
            "p99": round(percentile(slack_answers, 0.99), 1),
        },
        "direct_post_ms": {"p50": round(percentile(floor, 0.5), 1), "p99": round(percentile(floor, 0.99), 1)},
        "target": "p50 under 100 ms",
    }
    show(
        "Latency to the provider's POST (idle bridge, 100 KiB PDF)",
        [
            (
                "SMTP 250 -> POST",
                f"p50 {percentile(smtp, 0.5):.1f} ms, p99 {percentile(smtp, 0.99):.1f} ms (target p50 < 100)",
            ),
            (
                "Slack submission -> POST",
                f"p50 {percentile(via_slack, 0.5):.1f} ms, p99 {percentile(via_slack, 0.99):.1f} ms (target p50 < 100)",
            ),
            (
                "Slack submission -> its answer",
                f"p50 {percentile(slack_answers, 0.5):.1f} ms, p99 {percentile(slack_answers, 0.99):.1f} ms "
                "(stored first; Slack waits 3 s)",
            ),
            (
                "direct POST (floor)",
                f"p50 {percentile(floor, 0.5):.1f} ms, p99 {percentile(floor, 0.99):.1f} ms",
            ),
        ],
    )
    write_result("latency", figures)
    return figures


if __name__ == "__main__":
    run()
