"""The hostile corpus (tests/data/hostile) against a real `faxbridge serve`: each mail refused for its reason, serve alive."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.data.hostile.generate import DOCUMENTS, MAILS, SENDER, Case, build
from tests.helpers.processes import Serve
from tests.helpers.world import World

pytestmark = pytest.mark.slow  # real serve and stand-in processes; each test takes seconds to a minute

NAMES = sorted([*DOCUMENTS, *MAILS])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Case]]:
    folder = tmp_path_factory.mktemp("hostile-corpus")
    return folder, {case.name: case for case in build(folder)}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One serve for the module; it must still be alive at the end."""
    with World(tmp_path_factory.mktemp("hostile-serve")) as world:
        sandbox = world.sandbox(delay=0.2)
        # The default cover (generated), as a user who changes nothing runs it.
        process = world.serve(sandbox, world.relay(), cover="generated")
        process.start()
        yield process
        assert process.alive(), "serve died under the hostile corpus"


def _send(port: int, raw: bytes, recipients: tuple[str, ...]) -> tuple[int, str, list[int]]:
    """One transaction: the DATA answer (or the refusal before it) and each RCPT's code."""
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
        client.ehlo()
        client.mail(SENDER)
        codes = [client.rcpt(address)[0] for address in recipients]
        if not any(code == 250 for code in codes):
            return codes[0], "no recipient accepted", codes
        code, text = client.data(raw)
        return code, text.decode(errors="replace"), codes


@pytest.mark.parametrize("name", NAMES)
def test_hostile_mail_is_refused_for_its_reason_and_serve_lives(
    corpus: tuple[Path, dict[str, Case]], bridge: Serve, name: str
) -> None:
    """Each hostile mail gets a 5xx (never 451) naming its reason; serve answers after it; no fax job is made."""
    folder, cases = corpus
    case = cases[name]
    before = {job["id"] for job in bridge.jobs()}
    code, text, rcpt_codes = _send(bridge.smtp_port, (folder / case.mail).read_bytes(), case.recipients)
    assert code == case.code, (code, text)
    assert case.reason in text, text
    assert f"{case.document}: " in text if case.document else True, text
    assert all(c in (250, 452) for c in rcpt_codes)
    assert bridge.alive() and bridge.healthy()
    made = [job for job in bridge.jobs() if job["id"] not in before]
    assert all(job["state"] == "rejected" for job in made), made
