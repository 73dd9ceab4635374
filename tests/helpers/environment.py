"""Environments for child processes: the caller's, without any FAXBRIDGE_ setting of the person running the tests."""

from __future__ import annotations

import os

# A default config file that is never there: the host's /etc/faxbridge/faxbridge.toml is never read.
NO_SYSTEM_CONFIG = "/nonexistent/faxbridge/faxbridge.toml"


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without FAXBRIDGE_* variables or systemd credentials, reading no system config file,
    plus `extra`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_") and k != "CREDENTIALS_DIRECTORY"
    }
    env["FAXBRIDGE_SYSTEM_CONFIG"] = NO_SYSTEM_CONFIG
    env.update(extra)
    return env


def settings_env(settings: dict[str, str]) -> dict[str, str]:
    """Settings by their field name (`poll_seconds`) as the environment variables that set them."""
    return {f"FAXBRIDGE_{name.upper()}": value for name, value in settings.items()}
