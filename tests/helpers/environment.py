"""Environments for child processes: the caller's, without any FAXBRIDGE_ setting of the person running the tests."""

from __future__ import annotations

import os


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without FAXBRIDGE_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env.update(extra)
    return env


def settings_env(settings: dict[str, str]) -> dict[str, str]:
    """Settings by their field name (`poll_seconds`) as the environment variables that set them."""
    return {f"FAXBRIDGE_{name.upper()}": value for name, value in settings.items()}
