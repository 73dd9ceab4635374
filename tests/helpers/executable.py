"""The installed `faxbridge` executable, run as an operator runs it: one-shot commands and a `serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import processes
from tests.helpers.environment import clean_env

FAXBRIDGE = Path(sys.executable).with_name("faxbridge")


def operator_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any FAXBRIDGE_ variable, plus the data directory and `settings`."""
    return clean_env(FAXBRIDGE_DATA_DIR=str(data_dir), **settings)


def faxbridge(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one command to its end; its exit code, stdout and stderr are the caller's to judge."""
    return subprocess.run(
        [str(FAXBRIDGE), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


class Serve:
    """The executable's `serve` on free ports, its stderr in a file, ready once /healthz answers 200.

    `settings` are environment variables (FAXBRIDGE_...), as an operator writes them.
    """

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.serve = processes.Serve(tmp_path / "var", tmp_path / "serve.log", program=[str(FAXBRIDGE)])
        self.serve.env.update(settings)
        self.env = self.serve.env
        self.log = self.serve.log
        self.http_port = self.serve.http_port
        try:
            self.serve.start()
        except BaseException:
            self.stop()
            raise

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self.serve.process is not None
        return self.serve.process

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command on the same configuration and data directory as this serve."""
        return faxbridge(self.env, *args)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job as `faxbridge jobs --json` lists it."""
        listed = self.run("jobs", "--json")
        assert listed.returncode == 0, listed.stderr
        jobs: list[dict[str, Any]] = json.loads(listed.stdout)
        return jobs

    def stop(self) -> list[str]:
        """SIGTERM, wait for the end, and the lines it logged."""
        self.serve.stop()
        return self.log.read_text().splitlines() if self.log.exists() else []
