"""The compose file caps the container's log, so a long-running bridge cannot fill the disk with it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_rotates_the_log() -> None:
    """Every service logs to json-file with a size cap and a file count (mutation: no `logging` block,
    which lets Docker keep one ever-growing file)."""
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        options = logging.get("options", {})
        assert str(options.get("max-size", "")).rstrip("kmg").isdigit(), name
        assert int(options.get("max-file", 0)) >= 2, name
