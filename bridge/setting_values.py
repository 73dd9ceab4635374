"""One setting's declaration (default, rule, secret) and how a given value becomes its typed, checked value."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from bridge.routing import Routes
from bridge.setting_rules import Rule
from bridge.setting_sources import Given

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def setting(default: Any, rule: Rule | None = None, *, name: str = "") -> Any:
    """A setting's default and the rule its value must pass; `name` when it is not the section's
    prefix and the field's name (FAXBRIDGE_<NAME> in upper case)."""
    return field(default=default, metadata={"rule": rule, "name": name})


def secret(*, name: str = "") -> Any:
    """A secret setting: never printed, and it may also come from FAXBRIDGE_<NAME>_FILE or a credential."""
    return field(default="", repr=False, metadata={"secret": True, "name": name})


def shared(default: Any, source: str) -> Any:
    """Not a setting of this section: a copy of setting `source` from another one (or `demo`), filled
    in when the settings are built, so that the section is all its component needs."""
    return field(default=default, metadata={"shared": source})


def typed(given: Given, kind: Any, f: dataclasses.Field[Any]) -> Any:
    """The value as the setting's type, checked against its rule; else a one-line ConfigError."""
    secret = bool(f.metadata.get("secret"))
    # A secret is used exactly as given (a file loses only its final newline); other text is trimmed.
    if kind is Routes:
        try:
            return Routes.parse(given.value)
        except ValueError as exc:
            raise ConfigError(f"{given.named(secret)}: {exc}") from exc
    value = given.value if secret and isinstance(given.value, str) else convert(given.value, kind)
    if value is None:
        rule: Rule | None = f.metadata.get("rule")
        allowed = rule.allowed if rule is not None and kind not in (tuple[str, ...],) else KIND_WORDS[kind]
        raise ConfigError(f"{given.named(secret)}: must be {allowed}")
    check(value, f, given)
    return value


def check(value: Any, f: dataclasses.Field[Any], given: Given) -> None:
    rule: Rule | None = f.metadata.get("rule")
    if rule is None:
        return
    named = given.named(bool(f.metadata.get("secret")))
    if isinstance(value, tuple):
        for item in value:
            if not rule.ok(item):
                raise ConfigError(f"{named}: each entry must be {rule.allowed}; {item!r} is not")
    elif not rule.ok(value):
        raise ConfigError(f"{named}: must be {rule.allowed}")


KIND_WORDS: dict[Any, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "text",
    Path: "a path",
    tuple[str, ...]: "a comma-separated list (or a TOML list of strings)",
}


def convert(value: Any, kind: Any) -> Any:
    """`value` (a string from the environment or a TOML value) as `kind`, or None when it is not one."""
    if isinstance(value, str) and kind is not str:
        value = value.strip()
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, bool):
        return None  # TOML's true/false is no number, path or text
    if kind is int:
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, str) and _is_int(value) else None
    if kind is float:
        if isinstance(value, int | float):
            return float(value)
        try:
            number = float(value) if isinstance(value, str) else None
        except ValueError:
            return None
        return number if number is not None and number == number and abs(number) != float("inf") else None
    if kind == tuple[str, ...]:
        items = (
            list(value)
            if isinstance(value, list | tuple)
            else value.split(",")
            if isinstance(value, str)
            else None
        )
        if items is None or not all(isinstance(i, str) for i in items):
            return None
        return tuple(i.strip() for i in items if i.strip())
    if kind is Path:
        return Path(value) if isinstance(value, str | Path) and str(value) else None
    if isinstance(value, str):
        return value.strip()
    return None


def _is_int(text: str) -> bool:
    return text.removeprefix("-").isdigit()
