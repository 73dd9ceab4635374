"""Fax number parsing and destination policy (bridge.numbers)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from bridge import numbers
from bridge.errors import NumberRefused
from bridge.model import Destination
from bridge.numbers import parse_destination

DEMO = Destination(e164="+12025550123", region="US", display="+1 202-555-0123")


def parse(text: str, region: str = "US", allowed: tuple[str, ...] = ("US",)) -> Destination:
    return parse_destination(text, default_region=region, allowed_countries=allowed)


def refusal(text: str, region: str = "US", allowed: tuple[str, ...] = ("US",)) -> str:
    with pytest.raises(NumberRefused) as caught:
        parse(text, region, allowed)
    return caught.value.reason


def international(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@pytest.mark.parametrize(
    "text",
    [
        "+1-202-555-0123",
        "+1 (202) 555-0123",
        "12025550123",
        "2025550123",
        "001 202 555 0123",
        "011 1 202 555 0123",
        "tel:+12025550123",
        "TEL:+1-202-555-0123",
        "<tel:+12025550123|+1 202 555 0123>",
        "<tel:+12025550123>",
        "202.555.0123",
        "202 555 0123",
        "202-555-0123",
        "(202) 555-0123",
        "1 202 555 0123",
        "  +1 202 555 0123  ",
        "+1\u00a0202\u00a0555\u00a00123",
        "+1 202 555\u20130123",
        "２０２５５５０１２３",
        "＋１ ２０２ ５５５ ０１２３",
        "٢٠٢٥٥٥٠١٢٣",
    ],
)
def test_accepts_the_ways_people_write_a_number(text: str) -> None:
    """Every documented way of writing +1 202 555 0123 parses to the same Destination."""
    assert parse(text) == DEMO


def test_display_is_international_format() -> None:
    """The display form is phonenumbers' international format, the e164 form has no spaces."""
    destination = parse("+44 20 7183 8750", allowed=("GB",))
    assert destination == Destination(e164="+442071838750", region="GB", display="+44 20 7183 8750")


@pytest.mark.parametrize("line", ["0100", "0101", "0102", "0103", "0104", "0123", "0199"])
def test_demo_555_01xx_numbers_are_accepted(line: str) -> None:
    """The sandbox's fictional 555-01XX numbers are accepted in any real US area code."""
    assert parse(f"+1 415 555 {line}").e164 == f"+1415555{line}"


def test_demo_numbers_accepted_even_if_metadata_calls_them_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    """555-01XX stays valid, for its area code's region, if a phonenumbers version rejects it."""
    real = phonenumbers.is_valid_number

    def strict(number: phonenumbers.PhoneNumber) -> bool:
        return "55501" not in str(number.national_number) and real(number)

    monkeypatch.setattr(numbers.phonenumbers, "is_valid_number", strict)
    numbers._nanp_area.cache_clear()
    assert not phonenumbers.is_valid_number(phonenumbers.parse("+12025550123"))
    assert parse("2025550101") == Destination(e164="+12025550101", region="US", display="+1 202-555-0101")
    assert parse("+1 416 555 0123", allowed=("CA",)).region == "CA"
    assert "Jamaica (JM)" in refusal("+1 876 555 0123")
    assert "premium-rate numbers are not allowed" in refusal("+1 900 555 0123")
    numbers._nanp_area.cache_clear()


def test_jamaica_is_refused_by_default() -> None:
    """+1 876 is Jamaica, billed as international: refused when only the US is allowed."""
    assert refusal("+1 876 234 5678") == "numbers in Jamaica (JM) are not allowed; allowed: US"
    assert "Jamaica (JM)" in refusal("18762345678")
    assert "Jamaica (JM)" in refusal("876 234 5678")


def test_jamaica_is_allowed_when_listed() -> None:
    """With JM in the allowlist (any case) the same number is accepted as a Jamaican number."""
    destination = parse("1 876 234 5678", allowed=("US", "jm"))
    assert destination == Destination(e164="+18762345678", region="JM", display="+1 876-234-5678")


def test_dominican_republic_is_refused_as_a_foreign_country() -> None:
    """+1 809 is the Dominican Republic, not the US."""
    assert refusal("809 234 5678") == "numbers in Dominican Republic (DO) are not allowed; allowed: US"


def test_us_premium_rate_is_refused() -> None:
    """+1 900 numbers are US premium-rate and refused with that phrase."""
    reason = refusal("+1 900 234 5678")
    assert "premium-rate numbers are not allowed" in reason
    assert reason.startswith("+1 900-234-5678")


def test_toll_free_with_n11_digits_is_accepted() -> None:
    """A toll-free 855-211-xxxx number is not mistaken for an N11 service code."""
    assert parse("1-855-211-1234").e164 == "+18552111234"


@pytest.mark.parametrize(
    ("region", "kind", "phrase"),
    [
        ("GB", PhoneNumberType.PREMIUM_RATE, "premium-rate numbers are not allowed"),
        ("FR", PhoneNumberType.SHARED_COST, "shared-cost numbers are not allowed"),
        ("GB", PhoneNumberType.PERSONAL_NUMBER, "personal (follow-me) numbers are not allowed"),
        ("GB", PhoneNumberType.UAN, "universal access (UAN) numbers are not allowed"),
        ("DE", PhoneNumberType.VOICEMAIL, "voicemail-only numbers are not allowed"),
        ("GB", PhoneNumberType.PAGER, "pager numbers are not allowed"),
    ],
)
def test_special_number_types_are_refused_even_in_allowed_countries(
    region: str, kind: int, phrase: str
) -> None:
    """Premium, shared-cost, personal, UAN, voicemail and pager numbers are refused by type."""
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    assert phonenumbers.number_type(example) == kind
    reason = refusal(international(example), region=region, allowed=(region,))
    assert reason == f"{international(example)}: {phrase}"


@pytest.mark.parametrize(
    "kind",
    [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP],
)
def test_fax_capable_number_types_are_accepted(kind: int) -> None:
    """Fixed lines, mobiles (some fax lines are so classified), toll-free and VoIP are dialled."""
    example = phonenumbers.example_number_for_type("GB", kind)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert parse(international(example), region="GB", allowed=("GB",)).e164 == e164


def test_us_digits_that_are_also_a_somali_number_are_ambiguous() -> None:
    """'2524012345' is a North Carolina number and, read as E.164 without +, a Somali one: refused."""
    us = phonenumbers.parse("+12524012345")
    so = phonenumbers.parse("+2524012345")
    assert phonenumbers.is_valid_number(us)
    assert phonenumbers.is_valid_number(so)
    reason = refusal("252 401 2345", allowed=("US", "SO"))
    assert reason == (
        f"'252 401 2345' could be {international(us)} (United States) or {international(so)} (Somalia); "
        "write it with + and the country code"
    )


def test_a_reading_that_cannot_be_dialled_does_not_make_the_number_ambiguous() -> None:
    """With only the US allowed, '2524012345' is the US number: the Somali reading could never be dialled."""
    assert parse("2524012345").e164 == "+12524012345"


def test_german_digits_that_are_also_a_us_number_are_ambiguous() -> None:
    """In Germany '18002123456' is a national 01800 number or +1 800 212 3456: refused, both shown."""
    reason = refusal("18002123456", region="DE", allowed=("DE", "US"))
    assert "+1 800-212-3456" in reason
    assert international(phonenumbers.parse("018002123456", "DE")) in reason
    assert reason.endswith("write it with + and the country code")


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+252 4 012345", "+2524012345"),
        ("00 252 4 012345", "+2524012345"),
        ("011 252 4 012345", "+2524012345"),
        ("1 252 401 2345", "+12524012345"),
        ("(252) 401-2345", "+12524012345"),
        ("+1 252 401 2345", "+12524012345"),
    ],
)
def test_prefix_or_area_code_parentheses_remove_the_ambiguity(text: str, e164: str) -> None:
    """A +, 00 or 011 prefix, a trunk 1, or an area code in parentheses says which reading is meant."""
    assert parse(text, allowed=("US", "SO")).e164 == e164


def test_e164_without_plus_is_accepted_when_only_that_reading_is_valid() -> None:
    """'442071838750' is no US number, so it is London, as the email form <digits>@domain allows."""
    assert parse("442071838750", allowed=("US", "GB")).e164 == "+442071838750"
    assert parse("0044 20 7183 8750", allowed=("GB",)).e164 == "+442071838750"


def test_the_default_regions_own_trunk_prefix_is_national() -> None:
    """With region GB, 020 7183 8750 is London; 0 never starts a country code."""
    assert parse("020 7183 8750", region="GB", allowed=("GB",)).e164 == "+442071838750"


def test_empty_allowlist_means_the_default_region_only() -> None:
    """No allowed countries given: only the default region's numbers are dialled."""
    assert parse("2025550123", allowed=()).region == "US"
    assert "United Kingdom (GB)" in refusal("+44 20 7183 8750", allowed=())


def test_non_geographic_numbers_need_001_in_the_list() -> None:
    """+800 universal freephone has no country; it is dialled only when '001' is allowed."""
    assert refusal("+800 1234 5678") == (
        "numbers of international networks (+800) are not allowed; allowed: US"
    )
    assert parse("+800 1234 5678", allowed=("US", "001")).region == "001"


@pytest.mark.parametrize(
    "text", ["abc", "fax me", "1-800-FLOWERS", "+", "---", "()", "tel:", "+1 202 555 0123!"]
)
def test_text_that_is_not_a_number_is_refused(text: str) -> None:
    """Words, letters and bare punctuation are refused as 'not a fax number'."""
    assert refusal(text) == f"'{text}' is not a fax number"


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_input_is_refused(text: str) -> None:
    """Nothing written: refused with a plain reason."""
    assert refusal(text) == "no fax number was given"


def test_invalid_numbers_are_refused() -> None:
    """A number with too few digits is refused as not valid, quoting what was written."""
    assert refusal("+1 202 555 01").startswith("+1 202 555 01 is not a valid number")
    assert refusal("+1 202 555 01234").startswith("+1 202 555 01234 is not a valid number")
    assert refusal("+999 1234 5678").startswith("+999 1234 5678 is not a valid number")
    assert refusal("123").startswith("123 is not a valid number")


@pytest.mark.parametrize(
    "text", ["+1 202 555 0123 x12", "+1 202 555 0123 ext. 5", "tel:+12025550123;ext=1", "2025550123,,42#"]
)
def test_extensions_and_dialling_codes_are_refused(text: str) -> None:
    """A fax machine must answer the number itself; extensions and DTMF codes are refused."""
    assert "has an extension or dialling codes" in refusal(text)


@pytest.mark.parametrize("text", ["1" * 41, "x" * 100_000, "+1 202 555 0123" + " " * 30])
def test_long_input_is_refused_before_parsing(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over 40 characters is refused without ever reaching phonenumbers."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a string that should have been refused early")

    monkeypatch.setattr(numbers.phonenumbers, "parse", boom)
    reason = refusal(text)
    assert reason.endswith("is too long to be a fax number")
    assert len(reason) < 100


def test_control_characters_are_not_echoed_in_the_reason() -> None:
    """Reasons end up in SMTP replies, so CR, LF and NUL from the input never appear in them."""
    reason = refusal("abc\r\n250 ok\x00")
    assert reason == "'abc250 ok' is not a fax number"


allowlists = st.sampled_from([("US",), ("US", "CA", "JM"), ("GB", "DE"), ("FR", "001"), ()])
regions = st.sampled_from(["US", "GB", "DE", "FR", "AU", "JP"])
number_like = st.from_regex(r"[+]?[0-9 ()\-.]{0,24}", fullmatch=True)
wrapped = st.builds(lambda n: f"<tel:{n}|{n}>", st.from_regex(r"\+[0-9]{6,14}", fullmatch=True))


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=50), number_like, wrapped), region=regions, allowed=allowlists)
def test_any_text_gives_an_allowed_destination_or_a_refusal(
    text: str, region: str, allowed: tuple[str, ...]
) -> None:
    """For any text, parse_destination returns an allowed E.164 Destination or raises NumberRefused."""
    # Any other exception propagates and fails the test: that is the property.
    try:
        destination = parse_destination(text, default_region=region, allowed_countries=allowed)
    except NumberRefused as refused:
        reason = refused.reason
    else:
        reason = None
        assert destination.e164.startswith("+")
        assert destination.e164[1:].isdigit()
        assert destination.region in (allowed or (region,))
        assert (
            phonenumbers.parse(destination.e164).country_code
            == phonenumbers.parse(destination.display).country_code
        )
    if reason is not None:
        assert reason.strip()
        assert "\n" not in reason
        assert "\r" not in reason
