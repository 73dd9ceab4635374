"""The email way in as `faxbridge serve` wires it: intake in the same loop, replies to the log without a relay."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from pathlib import Path

import pytest

from adapters.cli.serve import _start_intakes
from adapters.cli.wiring import _channel_repliers, running
from adapters.email import EmailReplier
from bridge.model import Channel
from bridge.states import JobState
from bridge.testing import FakeProvider, InMemoryJobStore, sample_pdf
from tests.email.conftest import email_settings, mail, smtplib_send
from tests.helpers.ports import free_port


def test_public_surface_is_sorted_and_importable() -> None:
    """`adapters.email` exports a sorted `__all__` whose every name exists."""
    import adapters.email as package

    assert package.__all__ == sorted(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


async def test_email_replier_is_wired_for_the_email_channel(tmp_path: Path) -> None:
    """The composition root gives email jobs an EmailReplier, relay or not."""
    repliers = await _channel_repliers(email_settings(tmp_path), InMemoryJobStore())
    assert isinstance(repliers[Channel.EMAIL], EmailReplier)


async def test_mail_in_becomes_a_fax_with_receipt_and_report_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As in the demo: a mail with a PDF to the SMTP port is faxed, and its receipt and report are logged."""
    port = free_port()
    settings = email_settings(tmp_path, smtp_port=str(port), poll_seconds="0.05")
    provider = FakeProvider()
    with caplog.at_level(logging.INFO):
        async with running(settings, provider=provider) as bridge:
            await _start_intakes(bridge)
            raw = mail(attachments=[("some.pdf", sample_pdf(2), "application/pdf")])
            answer = await asyncio.to_thread(smtplib_send, port, raw)
            (job_id,) = answer.job_ids
            for _ in range(200):
                job = await bridge.store.get(job_id)
                if job.state is JobState.DELIVERED and "email report" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            assert job.state is JobState.DELIVERED
            assert [d.name for d in provider.sent[0][0].documents] == ["cover.pdf", "some.pdf"]
    assert f"job {job_id}: email receipt to the sender, not mailed (no relay set)" in caplog.text
    assert f"job {job_id}: email report to the sender, not mailed (no relay set): delivered" in caplog.text
    assert "smtp: listening on 127.0.0.1" in caplog.text
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port, timeout=2).close()
