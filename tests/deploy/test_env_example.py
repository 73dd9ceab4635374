"""The operator's example environment file covers every setting."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.setting_sources import CONFIG_VAR, SYSTEM_CONFIG_VAR
from bridge.settings import PREFIX, setting_names

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_env_example() -> None:
    """Each setting appears in deploy/faxbridge.env.example, with a comment above it."""
    text = (ROOT / "deploy" / "faxbridge.env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?(FAXBRIDGE_[A-Z0-9_]+)=", text, flags=re.M))
    wanted = {PREFIX + name.upper() for name in setting_names()}
    assert wanted - listed == set()
    assert listed - wanted == set()


def test_every_setting_in_the_readme_exists() -> None:
    """Each FAXBRIDGE_ variable the README names is a real setting, a secret's _FILE, or a config file switch."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(r"`(FAXBRIDGE_[A-Z0-9_]+)`", text))
    known = {PREFIX + name.upper() for name in setting_names()} | {CONFIG_VAR, SYSTEM_CONFIG_VAR}
    known |= {f"{PREFIX}{name.upper()}_FILE" for name, secret in setting_names().items() if secret}
    # Table rows shorten families as `FAXBRIDGE_SMTP_HOST` / `_PORT`; only full names are checked.
    assert names - known == set()
