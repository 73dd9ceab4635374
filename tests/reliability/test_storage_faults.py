"""The data directory fills up: intake says 451, never 250; nothing accepted is lost; service resumes."""

from __future__ import annotations

import resource

import pytest

from tests.helpers.waiting import wait_for
from tests.helpers.world import World
from tests.reliability.reliability_harness import FINAL, deliver, dump, fax_mail, fax_names, send_once

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute

BEFORE, DURING = 6, 4


def _disk_full(pid: int) -> None:
    # RLIMIT_FSIZE=1: every write that grows a file fails with EFBIG, as on a full disk (root ignores
    # permissions, so a read-only directory would not stop it).
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))


def _space_returns(pid: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_full_disk_answers_451_loses_nothing_and_recovers(world: World) -> None:
    """While writes fail every mail gets 451 4.3.0; jobs accepted before still end; after space returns all is faxed once."""
    sandbox, relay, bridge = world.mail(delay=0.3)
    bridge.start()
    numbers = [f"120255501{10 + i}" for i in range(BEFORE + DURING)]
    accepted = [deliver(bridge.smtp_port, fax_mail(i, to=numbers[i])) for i in range(BEFORE)]
    assert accepted == [(250, "")] * BEFORE

    _disk_full(bridge.pid)
    refused = [
        send_once(bridge.smtp_port, fax_mail(BEFORE + i, to=numbers[BEFORE + i])) for i in range(DURING)
    ]
    assert [code for code, _ in refused] == [451] * DURING, dump(refused)
    assert all("4.3.0" in text for _, text in refused)
    assert bridge.alive()
    assert {j["message_id"] for j in bridge.jobs()} == {
        f"<reliability-{i}@example.com>" for i in range(BEFORE)
    }

    _space_returns(bridge.pid)
    retried = [deliver(bridge.smtp_port, fax_mail(BEFORE + i, to=numbers[BEFORE + i])) for i in range(DURING)]
    assert retried == [(250, "")] * DURING
    total = BEFORE + DURING
    wait_for(
        lambda: len(bridge.jobs()) == total and all(j["state"] in FINAL for j in bridge.jobs()),
        90,
        "every job to end",
    )
    assert [j for j in bridge.jobs() if j["state"] != "delivered"] == []
    assert fax_names(sandbox) == {f"m{i}.pdf": 1 for i in range(total)}
    wait_for(
        lambda: all((j["id"], "report") in relay.replies() for j in bridge.jobs()), 60, "every final report"
    )
