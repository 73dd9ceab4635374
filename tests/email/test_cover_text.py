"""The body made fit for a cover page: charsets, HTML, quoted replies, signatures."""

from __future__ import annotations

import pytest

from adapters.email.cover_text import cid_references, clean_body, decode_text, html_to_text, unflow


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        ("Grüße €".encode(), "utf-8", "Grüße €"),
        ("Grüße".encode("latin-1"), "ISO-8859-1", "Grüße"),
        ("\u201cquoted\u201d \u20ac".encode("cp1252"), "windows-1252", "\u201cquoted\u201d \u20ac"),
        # ISO-8859-1 declared, Windows-1252 written (what Outlook does): read as 1252.
        ("\u201cquoted\u201d".encode("cp1252"), "iso-8859-1", "\u201cquoted\u201d"),
        # Undeclared or US-ASCII with 8-bit bytes: UTF-8 if it is, else Windows-1252.
        ("Grüße".encode(), None, "Grüße"),
        ("Grüße".encode("cp1252"), "us-ascii", "Grüße"),
        ("Grüße".encode(), "x-no-such-charset", "Grüße"),
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
    ],
)
def test_text_is_decoded_whatever_the_charset_claims(data: bytes, charset: str | None, text: str) -> None:
    """Each declared, missing, wrong or unknown charset still gives the words the sender wrote."""
    assert decode_text(data, charset) == text


def test_html_becomes_readable_text_without_scripts_styles_quotes_or_signatures() -> None:
    """HTML keeps its paragraphs, line breaks and list items; hidden and quoted parts are dropped."""
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body>"
        "<p>First&nbsp;line<br>second line</p><ul><li>one</li><li>two</li></ul>"
        "<div class='gmail_quote'>On Mon, Ann wrote:<blockquote>old text</blockquote></div>"
        "<div id='Signature'>Sig</div><div class='moz-signature'>Sig2</div><script>x()</script></body></html>"
    )
    assert html_to_text(html) == "First line\nsecond line\n\n- one\n- two\n\nOn Mon, Ann wrote:"


def test_unclosed_and_broken_html_is_tolerated() -> None:
    """Unclosed tags and stray end tags do not lose the text or raise."""
    assert html_to_text("<div><p>Hello <b>there</div></i> friend") == "Hello there\nfriend"


def test_cid_references_are_found_case_and_escape_insensitively() -> None:
    """Inline pictures referenced as cid: are found whatever their case or percent-escaping."""
    html = "<img src=\"cid:Image001.PNG@01DA\"><img src='CID:ii%5Fabc'>"
    assert cid_references(html) == {"image001.png@01da", "ii_abc"}


@pytest.mark.parametrize(
    "quote",
    [
        "On Wed, 13 Mar 2024 at 10:00, Bob <bob@example.com> wrote:\n> old",
        "On Wed, 13 Mar 2024 at 10:00, Bob Example <bob@example.com>\nwrote:\n> old",
        "Am 13.03.2024 um 10:00 schrieb Bob <bob@example.com>:\n> alt",
        "Le 13 mars 2024 à 10:00, Bob a écrit :\n> vieux",
        "-----Original Message-----\nFrom: Bob\nSent: today\nTo: Ann\nSubject: old",
        "________________________________\nFrom: Bob <bob@example.com>\nSent: Wednesday\nTo: Ann\nSubject: x\n\nold",
        "From: Bob <bob@example.com>\nSent: Wednesday\nTo: Ann\nSubject: Delivery\n\nold",
    ],
)
def test_quoted_replies_are_cut(quote: str) -> None:
    """The earlier message under a reply, in the forms Gmail, Apple, Thunderbird and Outlook write, is cut."""
    assert clean_body(f"New text here.\n\n{quote}\nmore old text") == "New text here."


def test_forwarded_message_inline_is_kept() -> None:
    """A forwarded message written into the body is the content, so it stays on the cover."""
    body = (
        "Please fax this.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\n"
        "Date: Wed\nSubject: Contract\nTo: Ann\n\nThe contract terms."
    )
    assert "The contract terms." in clean_body(body)
    outlook = (
        "FYI\n\n________________________________\nFrom: Bob\nSent: Wed\nTo: Ann\nSubject: FW: Terms\n\nTerms."
    )
    assert "Terms." in clean_body(outlook)


def test_signatures_and_phone_footers_are_removed() -> None:
    """The `-- ` signature block, "Sent from my iPhone" and picture placeholders do not reach the cover."""
    body = "Hello\n\nSent from my iPhone\n[image: logo.png]\n\nBye\n-- \nAnn Example\nExample Corp"
    assert clean_body(body) == "Hello\n\nBye"


def test_control_characters_and_blank_runs_are_removed() -> None:
    """NULs, other controls and long runs of blank lines are cleaned out."""
    assert clean_body("A\x00B\x07C\r\n\r\n\r\n\r\n\u200bD") == "ABC\n\nD"


def test_long_bodies_are_cut_to_a_cover_page_worth() -> None:
    """A very long body is bounded before it reaches the cover renderer."""
    assert len(clean_body("word " * 100_000)) <= 10_000


def test_format_flowed_soft_breaks_are_joined() -> None:
    """Thunderbird's format=flowed soft line breaks become one paragraph again; quotes and signatures stay apart."""
    text = "This is a long \nparagraph that \nwraps.\n> quoted \n-- \nsig"
    assert unflow(text) == "This is a long paragraph that wraps.\n> quoted \n-- \nsig"
    assert unflow("del\nsp", delsp=True) == "del\nsp"
    assert unflow("join \nme", delsp=True) == "joinme"
