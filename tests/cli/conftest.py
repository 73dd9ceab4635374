"""The installed `faxbridge` executable, run as a person runs it: a separate process on a temporary data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.testing import sample_pdf

# The console script the package installs next to this interpreter; the tests drive it, not main().
FAXBRIDGE = str(Path(sys.executable).parent / "faxbridge")

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any FAXBRIDGE_* setting, plus a private data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env["FAXBRIDGE_DATA_DIR"] = str(tmp_path / "var")
    env.update({f"FAXBRIDGE_{k.upper()}": v for k, v in settings.items()})
    return env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


@pytest.fixture
def faxbridge(tmp_path: Path, env: dict[str, str]) -> Run:
    """Run `faxbridge ARGS...` in tmp_path with `env`; returns the finished process (never raises on exit code)."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FAXBRIDGE, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def document(tmp_path: Path) -> Path:
    """A two-page PDF to fax."""
    path = tmp_path / "letter.pdf"
    path.write_bytes(sample_pdf(2))
    return path
