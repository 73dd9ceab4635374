"""Fax numbers: parse what people write into E.164 and apply the destination policy."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection

import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneNumber, PhoneNumberType

from bridge.errors import NumberRefused
from bridge.model import Destination

__all__ = ["MAX_INPUT_LENGTH", "parse_destination"]

# Nothing a person writes for one number is longer; refusing early keeps fuzzed input cheap.
MAX_INPUT_LENGTH = 40

# Punctuation people put between digit groups (after NFKC, so full-width forms are already ASCII).
_SEPARATORS = frozenset(" \t-./()\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
# Extensions, pauses and DTMF codes: a fax machine must answer the number itself.
_EXTENSION = re.compile(r"(?i)(ext|;|,|#|\*|\bx\s*\d)")

# Number types that cost the sender extra, reach a person rather than a machine, or cannot take
# a fax; each with the words a sender understands.
_REFUSED_TYPES: dict[int, str] = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate numbers are not allowed",
    PhoneNumberType.SHARED_COST: "shared-cost numbers are not allowed",
    PhoneNumberType.PERSONAL_NUMBER: "personal (follow-me) numbers are not allowed",
    PhoneNumberType.UAN: "universal access (UAN) numbers are not allowed",
    PhoneNumberType.VOICEMAIL: "voicemail-only numbers are not allowed",
    PhoneNumberType.PAGER: "pager numbers are not allowed",
}
# phonenumbers' region code for numbers of no country (+800 freephone, +882 networks, +870 Inmarsat).
_NON_GEOGRAPHIC = "001"
# Exchange/line pairs used to learn the region and type of a NANP area code from a real number.
_NANP_PROBES = ("2345678", "2000000", "3000000", "4000000", "7000000", "9000000")


def parse_destination(text: str, *, default_region: str, allowed_countries: Collection[str]) -> Destination:
    """Parse one fax number as a person wrote it and check it against the policy.

    `default_region` (ISO code) reads numbers written without a country code;
    `allowed_countries` lists the ISO codes that may be dialled (empty: the default region
    only; "001" allows non-geographic numbers such as +800). Raises NumberRefused with a
    reason in plain words for text that is not a number, invalid or ambiguous numbers,
    refused number types and countries outside the list.
    """
    region = default_region.strip().upper()
    allowed = frozenset(c.strip().upper() for c in allowed_countries if c.strip()) or frozenset({region})
    return _parse_allowed(text, region, allowed)


@functools.lru_cache(maxsize=4096)
def _parse_allowed(text: str, region: str, allowed: frozenset[str]) -> Destination:
    # Remembered: a mail's number is read at RCPT, again when it is accepted and for every reply,
    # and parsing one costs about a millisecond. A refusal is an exception, so it is never kept.
    plus, digits, national_hint = _clean(text)
    number = _interpret(
        _shown(text), plus=plus, digits=digits, national_hint=national_hint, region=region, allowed=allowed
    )
    return _apply_policy(number, allowed)


def _clean(text: str) -> tuple[bool, str, bool]:
    """Strip the wrappers people and apps add; return (had '+', ASCII digits, area code in parentheses)."""
    if not text or not text.strip():
        raise NumberRefused("no fax number was given")
    if len(text) > MAX_INPUT_LENGTH:
        raise NumberRefused(f"'{_shown(text)}' is too long to be a fax number")
    # NFKC turns full-width digits and '＋' into ASCII, and no-break spaces into spaces.
    s = unicodedata.normalize("NFKC", text).strip()
    if s.startswith("<") and s.endswith(">"):
        # Slack's link token <tel:+12025550123|+1 202 555 0123>: the target is authoritative.
        s = s[1:-1].split("|", 1)[0].strip()
    if s[:4].lower() == "tel:":
        s = s[4:].strip()
    if _EXTENSION.search(s):
        raise NumberRefused(
            f"'{_shown(text)}' has an extension or dialling codes; a fax needs a number its machine answers"
        )
    plus = s.startswith("+")
    body = s[1:] if plus else s
    digits: list[str] = []
    for ch in body:
        value = unicodedata.decimal(ch, None)  # digits of any script (Arabic-Indic, Devanagari…)
        if value is not None:
            digits.append(str(value))
        elif ch not in _SEPARATORS:
            raise NumberRefused(f"'{_shown(text)}' is not a fax number")
    if not digits:
        raise NumberRefused(f"'{_shown(text)}' is not a fax number")
    # "(202) 555-0123": an area code in parentheses is national formatting, never E.164 without '+'.
    return plus, "".join(digits), body.lstrip().startswith("(")


def _interpret(
    shown: str, *, plus: bool, digits: str, national_hint: bool, region: str, allowed: frozenset[str]
) -> PhoneNumber:
    """Turn digits into one number; refuse rather than guess when two dialable readings differ.

    A reading in a country the policy does not allow cannot be dialled anyway, so it does
    not make the other one doubtful: `2524012345` in the US is a US number unless Somalia
    may be dialled too.
    """
    if plus:
        return _international(shown, digits)
    national = _parse(digits, region)
    # The region's own international prefix (011 in NANP, 00 in Europe, 0011 in Australia).
    if national is not None and national.country_code_source == CountryCodeSource.FROM_NUMBER_WITH_IDD:
        if _classify(national) is None:
            raise NumberRefused(_invalid(shown, national))
        return national
    # 00 is the ITU's recommended international prefix and how much of the world writes numbers.
    if digits.startswith("00"):
        return _international(shown, digits[2:])
    readings: list[PhoneNumber] = []
    if national is not None and _classify(national) is not None:
        readings.append(national)
    # The interface accepts E.164 without '+' (12025550123@fax…), so that reading is as real as the
    # national one. Country codes never start with 0, and "(…)" marks national formatting.
    if digits[0] != "0" and not national_hint:
        international = _parse("+" + digits, None)
        if international is not None and _classify(international) is not None:
            if readings and _e164(readings[0]) != _e164(international):
                first, second = readings[0], international
                dialable = [r for r in (first, second) if _region_of(r) in allowed]
                if len(dialable) == 1:
                    return dialable[0]
                raise NumberRefused(
                    f"'{shown}' could be {_display(first)} ({_country_name(first)}) or "
                    f"{_display(second)} ({_country_name(second)}); write it with + and the country code"
                )
            readings.append(international)
    if readings:
        return readings[0]
    raise NumberRefused(_invalid(shown, national))


def _region_of(number: PhoneNumber) -> str:
    return phonenumbers.region_code_for_number(number) or "001"


def _international(shown: str, digits: str) -> PhoneNumber:
    number = _parse("+" + digits, None)
    if number is None or _classify(number) is None:
        raise NumberRefused(_invalid(shown, number))
    return number


def _parse(text: str, region: str | None) -> PhoneNumber | None:
    try:
        # keep_raw_input so country_code_source tells how the country code was found.
        return phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException:
        return None


def _classify(number: PhoneNumber) -> tuple[str, int] | None:
    """(region, number type) of a valid number, or None when it is not valid."""
    if phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number)
        return (region, phonenumbers.number_type(number)) if region else None
    if _is_fictional(number):
        # 555-01XX is the documented demo range; some metadata versions call it invalid.
        return _nanp_area(str(number.national_number)[:3])
    return None


def _is_fictional(number: PhoneNumber) -> bool:
    """NANP 555-0100…0199: reserved for fiction, used by the sandbox stand-in and the tests."""
    nsn = str(number.national_number)
    return (
        number.country_code == 1
        and not number.italian_leading_zero
        and len(nsn) == 10
        and nsn[0] in "23456789"
        and nsn[3:8] == "55501"
    )


@functools.lru_cache(maxsize=512)
def _nanp_area(npa: str) -> tuple[str, int] | None:
    """Region and type of a NANP area code, learnt from a real-looking number in it.

    The type follows the area code, so +1 900 555 0123 stays premium-rate.
    """
    for line in _NANP_PROBES:
        probe = PhoneNumber(country_code=1, national_number=int(npa + line))
        region = phonenumbers.region_code_for_number(probe)
        if region and phonenumbers.is_valid_number(probe):
            return region, phonenumbers.number_type(probe)
    return None


def _apply_policy(number: PhoneNumber, allowed: frozenset[str]) -> Destination:
    info = _classify(number)
    if info is None:  # _interpret only returns valid numbers; kept so the policy never trusts a caller
        raise NumberRefused(f"{_display(number)} is not a valid number")
    region, kind = info
    if region not in allowed:
        if region == _NON_GEOGRAPHIC:
            where = f"numbers of international networks (+{number.country_code})"
        else:
            where = f"numbers in {_country_name(number)} ({region})"
        raise NumberRefused(f"{where} are not allowed; allowed: {', '.join(sorted(allowed))}")
    refusal = _REFUSED_TYPES.get(kind)
    if refusal:
        raise NumberRefused(f"{_display(number)}: {refusal}")
    return Destination(e164=_e164(number), region=region, display=_display(number))


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _display(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _country_name(number: PhoneNumber) -> str:
    """English country name for a reason text; the region code when none is known."""
    info = _classify(number)
    region = info[0] if info else phonenumbers.region_code_for_number(number)
    if not region or region == _NON_GEOGRAPHIC:
        return "international network"
    return _region_name(region)


@functools.lru_cache(maxsize=256)
def _region_name(region: str) -> str:
    # Imported here: the geocoder's data takes a noticeable moment to load and only refusals need it.
    from phonenumbers import geocoder

    example = phonenumbers.example_number(region)
    name = geocoder.country_name_for_number(example, "en") if example is not None else ""
    return name or region


def _invalid(shown: str, number: PhoneNumber | None) -> str:
    """Why a number is not valid, as specifically as phonenumbers can say."""
    detail = ""
    if number is not None:
        reason = phonenumbers.is_possible_number_with_reason(number)
        detail = {
            phonenumbers.ValidationResult.TOO_SHORT: " (too few digits)",
            phonenumbers.ValidationResult.TOO_LONG: " (too many digits)",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: " (unknown country code)",
        }.get(reason, "")
    elif shown.lstrip().startswith("+"):
        detail = " (unknown country code)"
    return f"{shown} is not a valid number{detail}"


def _shown(text: str) -> str:
    """The text as it may be quoted back: no control characters (reasons end up in SMTP replies)."""
    cleaned = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    return cleaned[:MAX_INPUT_LENGTH] + ("…" if len(cleaned) > MAX_INPUT_LENGTH else "")
