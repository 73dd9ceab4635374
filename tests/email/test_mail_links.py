"""A mail's body is never crawled for links: signatures and footers are full of them."""

from __future__ import annotations

from typing import Any

from bridge.model import DocumentRole
from bridge.testing import sample_pdf
from tests.email.conftest import mail
from tests.helpers.links import link_server


async def test_a_link_in_a_mail_body_fetches_nothing(make_harness: Any) -> None:
    """A mail whose body holds a link to a reachable, listed document faxes its own part only, fetching nothing.

    Mutation caught: handing mail bodies to the link fetcher (the server would be asked for the document).
    """
    async with link_server(tls=False) as server:
        harness = await make_harness(fetch_allowed_hosts=f"127.0.0.1:{server.port}")
        link = server.url("/doc/b.pdf", host="127.0.0.1")
        body = f"Please fax the attached form.\n\nOur terms: {link}\n<{link}>\n"
        answer = await harness.send(mail(body, attachments=[("form.pdf", sample_pdf(1), "application/pdf")]))
        assert answer.code == 250
        (job,) = await harness.jobs()
        documents = [d for d in job.documents if d.role is DocumentRole.DOCUMENT]
        assert [d.pages for d in documents] == [1]
        assert sum(server.hits.values()) == 0
