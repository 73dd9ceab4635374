"""The installed `faxbridge` executable, run as an operator runs it: one-shot commands and a `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.reliability_harness import free_port, wait_for

FAXBRIDGE = Path(sys.executable).with_name("faxbridge")


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any FAXBRIDGE_ variable, plus the data directory and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXBRIDGE_")}
    env.update(FAXBRIDGE_DATA_DIR=str(data_dir), **settings)
    return env


def faxbridge(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one command to its end; its exit code, stdout and stderr are the caller's to judge."""
    return subprocess.run(
        [str(FAXBRIDGE), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


class Serve:
    """`faxbridge serve` on free ports, its stderr in a file, ready once /healthz answers 200."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.http_port = free_port()
        self.env = clean_env(
            tmp_path / "var",
            FAXBRIDGE_HTTP_PORT=str(self.http_port),
            FAXBRIDGE_SMTP_PORT=str(free_port()),
            **settings,
        )
        self.log = tmp_path / "serve.log"
        with open(self.log, "wb") as err:
            self.process = subprocess.Popen(
                [str(FAXBRIDGE), "serve"], env=self.env, stdout=subprocess.DEVNULL, stderr=err
            )
        try:
            wait_for(self._healthy, 60, "serve to answer /healthz")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command on the same configuration and data directory as this serve."""
        return faxbridge(self.env, *args)

    def jobs(self) -> list[dict[str, Any]]:
        listed = self.run("jobs", "--json")
        assert listed.returncode == 0, listed.stderr
        jobs: list[dict[str, Any]] = json.loads(listed.stdout)
        return jobs

    def stop(self) -> list[str]:
        """SIGTERM, wait for the end, and the lines it logged."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text().splitlines()
