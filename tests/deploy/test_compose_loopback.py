"""The compose file publishes the bridge's ports on the host's loopback only."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_published_ports_bind_to_loopback() -> None:
    """Every port deploy/compose.yaml publishes is bound to 127.0.0.1, so only the host's MTA and proxy reach it.

    Mutation caught: publishing "2525:2525" (all interfaces), which lets anyone hand the intake a forged sender.
    """
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    ports = [str(p) for service in compose["services"].values() for p in service.get("ports", [])]
    assert sorted(ports) == ["127.0.0.1:2525:2525", "127.0.0.1:8080:8080"]
