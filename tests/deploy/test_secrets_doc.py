"""docs/secrets.md tells how to rotate every secret setting the bridge has."""

from __future__ import annotations

from pathlib import Path

from bridge.settings import PREFIX, SECRET_FIELDS

ROOT = Path(__file__).resolve().parents[2]


def test_every_secret_setting_has_its_rotation() -> None:
    """Each secret setting is in the page's table and in the steps below it (mutation: a new secret
    field added to Settings with no rotation written for it)."""
    text = (ROOT / "docs" / "secrets.md").read_text(encoding="utf-8")
    table, steps = text.split("\n## ", 1)
    for name in sorted(SECRET_FIELDS):
        variable = f"`{PREFIX}{name.upper()}`"
        assert variable in table, variable
        assert variable in steps, variable
    assert "## DKIM keys" in text
