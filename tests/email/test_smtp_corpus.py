"""Every corpus message through the real SMTP server and the real core, to the fake provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.email.mime import parse_mail
from bridge.model import DocumentRole
from bridge.spooling import Scratch
from bridge.states import JobState
from tests.email.conftest import Harness, corpus
from tests.email.corpus import EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_corpus_message_becomes_the_expected_fax(harness: Harness, name: str) -> None:
    """Each realistic mail is accepted with its documents in attach order and the rest listed as left out."""
    expected = EXPECTED[name]
    answer = await harness.send(corpus(name))
    if expected.refused:
        assert answer.code == int(expected.refused), answer
        assert await harness.jobs(JobState.QUEUED) == []
        return
    assert answer.code == 250, answer
    (job_id,) = answer.job_ids
    job = await harness.job(job_id)
    assert job.state is JobState.QUEUED
    documents = [(d.name, d.pages) for d in job.documents if d.role is DocumentRole.DOCUMENT]
    assert documents == list(expected.documents)
    assert next(d.role for d in job.documents) is DocumentRole.COVER
    assert sorted(item.name for item in job.left_out) == sorted(expected.left_out)
    assert all(item.reason for item in job.left_out)
    await harness.run()
    (sent, blobs) = harness.provider.sent[0]
    assert [d.name for d in sent.documents][1:] == [n for n, _ in expected.documents]
    assert all(blob for blob in blobs)
    assert (await harness.job(job_id)).state is JobState.DELIVERED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_cover_text_and_reply_policy(tmp_path: Path, name: str) -> None:
    """The cover note keeps what the sender wrote, drops quotes and signatures, and automatic mail is spotted."""
    expected = EXPECTED[name]
    parsed = parse_mail(corpus(name), scratch=Scratch.create(tmp_path))
    for words in expected.note_has:
        assert words in parsed.note, (words, parsed.note)
    for words in expected.note_lacks:
        assert words not in parsed.note, (words, parsed.note)
    assert parsed.automatic is expected.automatic


async def test_corpus_origin_keeps_what_threading_needs(harness: Harness) -> None:
    """The job remembers the mail's Message-ID, subject, references and who to answer."""
    answer = await harness.send(corpus("outlook_reply_quote"), sender="robert.baker@corp.example.com")
    job = await harness.job(answer.job_ids[0])
    reply = job.origin.reply
    assert job.origin.channel == "email"
    assert job.origin.sender == "robert.baker@corp.example.com"
    assert job.origin.sender_name == "Baker, Robert"
    assert reply["message_id"] == "<DM6PR11MB4107RE0002@DM6PR11MB4107.namprd11.prod.outlook.com>"
    assert reply["subject"] == "RE: Delivery date"
    assert reply["references"] == "<earlier-0@example.com> <earlier-1@example.com>"
    assert reply["reply_to"] == "robert.baker@corp.example.com"
    assert "no_reply" not in reply


async def test_scanner_without_message_id_is_still_deduplicated(harness: Harness) -> None:
    """A scanner's mail without a Message-ID, delivered twice, is one fax (keyed by a hash of the mail)."""
    first = await harness.send(corpus("scanner_xerox"))
    second = await harness.send(corpus("scanner_xerox"))
    assert first.job_ids == second.job_ids
    assert "already queued" in (second.data or (0, ""))[1]
