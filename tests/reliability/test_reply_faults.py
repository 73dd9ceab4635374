"""The reply relay is down for a while: receipts and reports wait, then arrive, each exactly once."""

from __future__ import annotations

import time

import pytest

from tests.helpers.waiting import wait_for
from tests.helpers.world import World
from tests.reliability.reliability_harness import FINAL, deliver, fax_mail

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute

MAILS = 5


def test_relay_outage_delays_replies_but_never_drops_or_doubles_them(world: World) -> None:
    """With the relay down every fax still goes out; once it is back each receipt and report arrives once."""
    sandbox = world.sandbox(delay=0.2)
    relay = world.relay(started=False)  # the relay is down
    bridge = world.serve(sandbox, relay)
    bridge.start()
    assert [deliver(bridge.smtp_port, fax_mail(i, to=f"120255501{10 + i}")) for i in range(MAILS)] == [
        (250, "")
    ] * MAILS
    wait_for(
        lambda: len(bridge.jobs()) == MAILS and all(j["state"] in FINAL for j in bridge.jobs()),
        60,
        "every job to end",
    )
    time.sleep(2)  # several retry rounds fail meanwhile
    assert relay.mails == []

    relay.start()
    jobs = bridge.jobs()
    wanted = {(j["id"], kind) for j in jobs for kind in ("receipt", "report")}
    wait_for(lambda: wanted <= set(relay.replies()), 60, "every receipt and report")
    time.sleep(1.5)  # and nothing more comes after them
    assert {key: relay.raw_count(*key) for key in wanted} == dict.fromkeys(wanted, 1)
    assert len(relay.mails) == len(wanted)
