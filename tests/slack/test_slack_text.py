"""Reading Slack text: the fax number among words and `<tel:...>` tokens, and the cover note around it."""

from __future__ import annotations

import pytest

from adapters.slack.text import find_number, links_in, note_from, plain
from bridge.numbers import parse_destination


def check(text: str) -> object:
    return parse_destination(text, default_region="US", allowed_countries=("US",))


@pytest.mark.parametrize(
    ("text", "number", "note"),
    [
        (
            "<@U0BOT> please fax this to <tel:+12025550123|+1 202 555 0123> urgent: contract",
            "+12025550123",
            "urgent: contract",
        ),
        ("+1 202 555 0123 3 pages attached", "+1 202 555 0123", "3 pages attached"),
        ("(202) 555-0123 call me back", "(202) 555-0123", "call me back"),
        ("Fax to 202-555-0123.", "202-555-0123", ""),
        (
            "<tel:+19005550123|+1 900 555 0123> or 2025550123 thanks",
            "2025550123",
            "+1 900 555 0123 or thanks",
        ),
        ("cc <@U01234567890> fax 2025550123", "2025550123", "cc fax"),
    ],
)
def test_number_and_note_are_found(text: str, number: str, note: str) -> None:
    """The first dialable number is taken (a tel token by its target); the rest, minus filler, is the note."""
    found = find_number(text, check)
    assert (found.number, found.refusal) == (number, "")
    assert note_from(found.rest) == note


def test_a_refused_number_comes_back_with_its_reason() -> None:
    """With no usable number, the first candidate is returned with why it cannot be dialled."""
    found = find_number("fax to +1 900 555 0123 today", check)
    assert found.number == "+1 900 555 0123"
    assert "premium-rate" in found.refusal


def test_text_without_a_number_is_all_note() -> None:
    """Text with no digits gives no number and keeps every word."""
    found = find_number("here is the form", check)
    assert (found.number, found.refusal, found.rest) == ("", "", "here is the form")


def test_plain_turns_slack_markup_into_words() -> None:
    """Links become their labels, channel links their names, mentions vanish, entities are decoded."""
    text = "see <https://example.com/a|the contract> in <#C0FAX|fax-desk> &amp; ask <@U0BOB> <!here>"
    assert plain(text) == "see the contract in #fax-desk & ask"


@pytest.mark.parametrize(
    ("text", "links"),
    [
        (
            "fax <https://a.example/x.pdf?a=1&amp;b=2|a.example/x.pdf> then <https://b.example/y.pdf> to +1 202 555 0123",
            ["https://a.example/x.pdf?a=1&b=2", "https://b.example/y.pdf"],
        ),
        (
            "see https://c.example/z.pdf, and (https://d.example/w.pdf).",
            ["https://c.example/z.pdf", "https://d.example/w.pdf"],
        ),
        (
            "<http://intranet/a.pdf|intranet/a.pdf> and HTTPS://E.example/B.PDF",
            ["http://intranet/a.pdf", "HTTPS://E.example/B.PDF"],
        ),
        ("<mailto:ann@example.com|ann@example.com> <#C123|general> ftp://f.example/a.pdf", []),
    ],
)
def test_links_are_read_in_the_order_written(text: str, links: list[str]) -> None:
    """Slack's link tokens and links typed in a note are found in order, unescaped; other tokens are not links."""
    assert links_in(text)[0] == links


def test_a_number_inside_a_link_is_not_the_fax_number() -> None:
    """Links are taken out before the number is looked for: digits in a link's path dial nobody."""
    links, rest = links_in("fax <https://docs.example/2025550199.pdf> to +1 202 555 0123 for Ann")
    assert links == ["https://docs.example/2025550199.pdf"]
    found = find_number(rest, check)
    assert found.number == "+1 202 555 0123"
    assert note_from(found.rest) == "for Ann"


def test_a_note_keeps_its_lines_when_its_links_are_taken_out() -> None:
    """Taking the links out of a form's note keeps the note's lines; a note without links is untouched."""
    note = "Dear Dr. Gray,\n  see https://docs.example/a.pdf  (signed)\nThanks"
    assert links_in(note) == (["https://docs.example/a.pdf"], "Dear Dr. Gray,\nsee (signed)\nThanks")
    assert links_in("Line one\n\n  indented") == ([], "Line one\n\n  indented")
