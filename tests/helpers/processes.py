"""`faxbridge serve` and `faxbridge sandbox` in their own processes on loopback ports, and their memory."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from tests.helpers.environment import clean_env, settings_env
from tests.helpers.ports import free_port
from tests.helpers.waiting import wait_for


def faxbridge_command(*args: str) -> list[str]:
    """The command line of `faxbridge ARGS...` run from this checkout with this interpreter."""
    return [sys.executable, "-m", "adapters.cli", *args]


def answers(url: str) -> bool:
    """Whether a GET of `url` answers 200 now (False while nothing listens)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(process: subprocess.Popen[Any], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL if it has not ended within `timeout`; the exit status (-9 when killed)."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return -9


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB; 0 if it has just ended."""
    try:
        match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


class Sandbox:
    """`faxbridge sandbox` (the RingCentral stand-in) in its own process, inspected through /_standin.

    The limits are far above RingCentral's unless asked for: a test about crashes or faults must not
    turn into one about rate limits.
    """

    def __init__(
        self,
        log: Path | None = None,
        *,
        port: int | None = None,
        heavy_limit: int = 10_000,
        other_limits: int = 10_000,
        window: float = 60,
        delay: float = 0.2,
        penalty: float = 2,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--port", str(self.port), "--heavy-limit", str(heavy_limit), "--window", str(window)]
        args += ["--light-limit", str(other_limits), "--auth-limit", str(other_limits)]
        args += ["--delay", str(delay), "--penalty", str(penalty)]
        self._log: IO[bytes] | None = open(log, "wb") if log else None  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            faxbridge_command("sandbox", *args),
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log or subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: answers(f"{self.url}/_standin"), 30, "the stand-in to listen")
        except BaseException:
            self.stop()
            raise

    def messages(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_standin/messages", timeout=30).json()["records"])

    def message_count(self) -> int:
        return int(httpx.get(f"{self.url}/_standin", timeout=30).json()["messages"])

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_standin/requests", timeout=30).json()["records"])

    def faults_left(self) -> int:
        return len(httpx.get(f"{self.url}/_standin/faults", timeout=10).json()["records"])

    def fault(
        self, path: str, kind: str, *, times: int = 1, method: str = "POST", retry_after: float | None = None
    ) -> None:
        body: dict[str, Any] = {"path": path, "kind": kind, "times": times, "method": method}
        if retry_after is not None:
            body["retryAfter"] = retry_after
        httpx.post(f"{self.url}/_standin/faults", json=body, timeout=10).raise_for_status()

    def expire_tokens(self) -> None:
        httpx.post(f"{self.url}/_standin/tokens/expire", timeout=10).raise_for_status()

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def standin_settings(url: str, client: str) -> dict[str, str]:
    """Settings that send faxes through the RingCentral stand-in at `url`."""
    return {
        "provider": "ringcentral",
        "ringcentral_server_url": url,
        "ringcentral_client_id": client,
        "ringcentral_client_secret": f"{client}-secret",
        "ringcentral_jwt": f"{client}-jwt",
    }


class Serve:
    """`faxbridge serve` in its own process on one data directory, across restarts; stderr goes to `log`."""

    def __init__(
        self, data_dir: Path, log: Path, *, program: Sequence[str] | None = None, **settings: str
    ) -> None:
        # `program` runs faxbridge some other way, such as the executable pip installed.
        self.program = list(program) if program else faxbridge_command()
        self.data_dir = data_dir
        self.log = log
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.env = clean_env(
            FAXBRIDGE_DATA_DIR=str(data_dir),
            FAXBRIDGE_SMTP_PORT=str(self.smtp_port),
            FAXBRIDGE_HTTP_PORT=str(self.http_port),
            **settings_env(settings),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, preexec: Callable[[], None] | None = None, timeout: float = 60) -> None:
        """Start serve and wait until /healthz answers."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*self.program, "serve"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=preexec,
            )
        self.starts += 1
        wait_for(self.healthy, timeout, "serve to become healthy")

    def run(self, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        """`faxbridge ARGS...` with this serve's environment (the same data directory)."""
        return subprocess.run([*self.program, *args], env=self.env, capture_output=True, text=True, **options)

    def healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(
                f"serve exited with {self.process and self.process.returncode}: see {self.log}"
            )
        return answers(f"http://127.0.0.1:{self.http_port}/healthz")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait up to `timeout` seconds; the exit status (0 when it was never started)."""
        if self.process is None:
            return 0
        return stop_process(self.process, timeout)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, read straight from the database (WAL lets us read beside a writer)."""
        path = self.data_dir / "faxbridge.db"
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute(
                "SELECT jobs.id, state, to_number, provider_id, reason, idempotency_key,"
                " json_extract(batches.origin, '$.reply.message_id') AS message_id"
                " FROM jobs JOIN batches ON batches.id = jobs.batch_id"
            ).fetchall()
        finally:
            conn.close()
        return [dict(row) for row in rows]
