"""SIGKILL the bridge at chosen moments while mail arrives and faxes go out: nothing lost, nothing doubled."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from tests.helpers.processes import Serve
from tests.helpers.waiting import wait_for
from tests.helpers.world import World
from tests.reliability.reliability_harness import FINAL, deliver, dump, fax_mail, fax_names

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute

KILLS = 21  # seven at each of the three moments


def _kill_when(
    bridge: Serve, states: set[str], also: Callable[[], bool] = lambda: True, timeout: float = 5.0
) -> bool:
    """Kill as soon as some job is in one of `states` (and `also` holds); False if that never happened in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(job["state"] in states for job in bridge.jobs()) and also():
            bridge.kill()
            return True
        time.sleep(0.03)
    bridge.kill()
    return False


def test_sigkill_loses_and_duplicates_nothing(world: World) -> None:
    """21 SIGKILLs (stored-not-sent, POST-sent-unanswered, status-changing): every 250 is one fax, every job ends and is reported."""
    sandbox, relay, bridge = world.mail(delay=0.3)
    bridge.start()
    answers: dict[int, tuple[int, str]] = {}
    sending = threading.Event()
    sending.set()

    def send_until_told() -> None:
        index = 0
        while sending.is_set():
            answers[index] = deliver(bridge.smtp_port, fax_mail(index), deadline=120)
            index += 1
            time.sleep(0.2)  # a steady trickle keeps jobs in every state without flooding the run

    sender = threading.Thread(target=send_until_told, name="mta")
    sender.start()
    rng = random.Random(26)
    hits = {"stored": 0, "posted": 0, "tracking": 0}
    for kill in range(KILLS):
        moment = ("stored", "posted", "tracking")[kill % 3]
        time.sleep(rng.uniform(0.0, 0.3))
        if moment == "stored":
            hits[moment] += _kill_when(bridge, {"queued"})
        elif moment == "posted":
            # The next fax POST is carried out by the provider but never answered.
            before = sandbox.message_count()
            sandbox.fault(r"/fax$", "hang_after")
            hits[moment] += _kill_when(
                bridge, {"submitting"}, also=lambda before=before: sandbox.message_count() > before
            )
        else:
            hits[moment] += _kill_when(bridge, {"submitted", "sent"})
        bridge.start()
    sending.clear()
    sender.join(150)
    assert not sender.is_alive(), "the sender never finished"
    assert all(hits.values()), f"some moments were never hit: {hits}"
    mails = len(answers)

    # Let the restarted bridge finish everything it accepted.
    wait_for(
        lambda: len(bridge.jobs()) == mails and all(j["state"] in FINAL for j in bridge.jobs()),
        120,
        "every job to end",
    )
    jobs = bridge.jobs()
    wait_for(lambda: all((j["id"], "report") in relay.replies() for j in jobs), 60, "every final report")

    assert answers == dict.fromkeys(range(mails), (250, "")), dump(answers)
    assert sorted(j["message_id"] for j in jobs) == sorted(
        f"<reliability-{i}@example.com>" for i in range(mails)
    )
    assert [j for j in jobs if j["state"] != "delivered"] == []
    assert fax_names(sandbox) == {f"m{i}.pdf": 1 for i in range(mails)}, dump(fax_names(sandbox))
    provider_ids = [j["provider_id"] for j in jobs]
    assert len(set(provider_ids)) == mails
    assert bridge.starts == KILLS + 1
