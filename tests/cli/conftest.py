"""The installed `faxbridge` executable, run as a person runs it: a separate process on a temporary data directory."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.testing import sample_pdf
from tests.helpers.executable import FAXBRIDGE, operator_env

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No FAXBRIDGE_* setting but a private data directory; tests add what they need."""
    return operator_env(tmp_path / "var")


@pytest.fixture
def faxbridge(tmp_path: Path, env: dict[str, str]) -> Run:
    """Run `faxbridge ARGS...` in tmp_path with `env`; returns the finished process (never raises on exit code)."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FAXBRIDGE), *args],
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
