"""RingCentral misbehaving in bursts and at random: the ledger holds, 429 penalties are respected."""

from __future__ import annotations

import random

import pytest

from tests.helpers.waiting import wait_for
from tests.helpers.world import World
from tests.reliability.reliability_harness import FINAL, deliver, dump, fax_mail, fax_names

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute

MAILS = 16
FAX = r"/restapi/v1\.0/account/[^/]+/extension/[^/]+/fax$"
STORE = r"/message-store"
TRANSIENT_SEND_FAULTS = ["500", "503", "hang", "reset", "reset_after", "hang_after", "429", "expire_tokens"]


def test_provider_faults_lose_and_duplicate_nothing(world: World) -> None:
    """500, 503, hangs, resets, 429s, expired tokens and refused refreshes: one fax per mail, one permanent failure with its reason."""
    sandbox, relay, bridge = world.mail(delay=0.2)
    bridge.start()
    # A burst of each kind first, then a random stream, then one permanent refusal.
    for kind in ("500", "503"):
        sandbox.fault(FAX, kind, times=2)
    for kind in ("hang", "reset", "reset_after", "hang_after", "expire_tokens"):
        sandbox.fault(FAX, kind)
    sandbox.fault(FAX, "429", retry_after=2)
    sandbox.fault(STORE, "500", method="GET", times=3)
    sandbox.fault(STORE, "429", method="GET", retry_after=2)
    sandbox.fault(r"/oauth/token", "refuse_refresh", times=2)
    rng = random.Random(5)
    for _ in range(8):
        kind = rng.choice(TRANSIENT_SEND_FAULTS)
        sandbox.fault(FAX, kind, retry_after=2 if kind == "429" else None)
    sandbox.fault(FAX, "403")

    # A number each (555-0110 and up): one number's open submission would otherwise hold up the rest.
    answers = [
        deliver(bridge.smtp_port, fax_mail(index, to=f"120255501{10 + index}")) for index in range(MAILS)
    ]
    assert answers == [(250, "")] * MAILS
    wait_for(
        lambda: len(bridge.jobs()) == MAILS and all(j["state"] in FINAL for j in bridge.jobs()),
        150,
        "every job to end",
        0.3,
    )
    jobs = bridge.jobs()
    failed = [j for j in jobs if j["state"] == "failed"]
    assert len(failed) == 1, dump(jobs)
    assert "not allowed to send faxes" in failed[0]["reason"]
    delivered = [j for j in jobs if j["state"] == "delivered"]
    assert len(delivered) == MAILS - 1
    refused_mail = failed[0]["message_id"].removeprefix("<reliability-").split("@")[0]
    expected = {f"m{i}.pdf": 1 for i in range(MAILS) if str(i) != refused_mail}
    assert fax_names(sandbox) == expected, dump(fax_names(sandbox))
    wait_for(lambda: all((j["id"], "report") in relay.replies() for j in jobs), 60, "every final report")
    assert sandbox.faults_left() == 0
    assert_no_request_during_a_penalty(sandbox.requests())


def assert_no_request_during_a_penalty(records: list[dict[str, object]]) -> None:
    """After each 429 (every one here says Retry-After: 2), the bridge sent nothing for 2 seconds.

    A request that arrives within 50 ms of the 429 was already on the wire when the answer left
    (a status read beside the send); the client cannot call it back, so it is not counted.
    """
    api = [r for r in records if not str(r["path"]).startswith("/_standin")]
    penalties = [(float(r["answered"]), r) for r in api if r["status"] == 429]
    assert penalties, "no 429 was ever answered: the scenario did not test the penalty"
    for answered, record in penalties:
        during = [r for r in api if answered + 0.05 < float(r["at"]) < answered + 2.0 - 0.05]
        assert during == [], f"requests inside the penalty after {record}: {during}"
