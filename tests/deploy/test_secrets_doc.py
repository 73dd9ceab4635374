"""docs/secrets.md tells how to rotate every secret setting the bridge has."""

from __future__ import annotations

from pathlib import Path

from bridge.settings import PREFIX, setting_names

ROOT = Path(__file__).resolve().parents[2]


def test_every_secret_setting_has_its_rotation() -> None:
    """Each secret setting is in the page's table and in the steps below it (mutation: a new secret
    field added to Settings with no rotation written for it)."""
    text = (ROOT / "docs" / "secrets.md").read_text(encoding="utf-8")
    table, steps = text.split("\n## ", 1)
    for name in sorted(n for n, secret in setting_names().items() if secret):
        variable = f"`{PREFIX}{name.upper()}`"
        assert variable in table, variable
        assert variable in steps, variable
    assert "## DKIM keys" in text


def test_the_unit_shows_a_credential_for_every_secret() -> None:
    """deploy/faxbridge.service has a LoadCredential= line for each secret, named as the loader reads it
    from $CREDENTIALS_DIRECTORY (mutation: a secret added without its credential line)."""
    unit = (ROOT / "deploy" / "faxbridge.service").read_text(encoding="utf-8")
    for name in sorted(n for n, secret in setting_names().items() if secret):
        assert f"LoadCredential={name}:/etc/faxbridge/credentials/{name}\n" in unit, name
