"""The two-bridge PostgreSQL compose file: both bridges on one database, ports on loopback, logs capped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "deploy" / "compose.postgres.yaml").read_text(encoding="utf-8")))


def test_two_bridges_share_one_postgresql_and_publish_on_loopback_only() -> None:
    """Both bridges name the same postgresql:// database, publish only on 127.0.0.1, and PostgreSQL publishes nothing.

    Mutation caught: a port published on all interfaces (anyone could hand the intake a forged sender).
    """
    services = _compose()["services"]
    bridges = {name: s for name, s in services.items() if name.startswith("bridge")}
    assert len(bridges) == 2
    urls = {str(dict(s["environment"])["FAXBRIDGE_DATABASE_URL"]) for s in bridges.values()}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql://faxbridge:")
    ports = [str(p) for s in services.values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert "ports" not in services["postgres"]


def test_every_service_caps_its_log() -> None:
    """Every service logs to json-file with a size cap and a file count."""
    for name, service in _compose()["services"].items():
        logging = dict(service.get("logging", {}))
        assert logging.get("driver") == "json-file", name
        assert int(dict(logging.get("options", {})).get("max-file", 0)) >= 2, name
