"""`serve` and `check` fail in one line: a port in use names its setting; half-configured Slack is said."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.cli import serve as serve_module
from adapters.cli.binding import PortUnavailable
from bridge.settings import Settings
from tests.cli.conftest import Run
from tests.helpers.executable import Serve
from tests.helpers.ports import free_port


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize("which", ["SMTP", "HTTP"])
def test_serve_on_a_port_in_use_exits_2_in_one_line(
    faxbridge: Run, env: dict[str, str], taken: int, which: str
) -> None:
    """`serve` with its SMTP or HTTP port taken prints one line naming the setting, exit 2, no traceback."""
    other = "HTTP" if which == "SMTP" else "SMTP"
    env[f"FAXBRIDGE_{which}_PORT"] = str(taken)
    env[f"FAXBRIDGE_{other}_PORT"] = str(free_port())
    result = faxbridge("serve", timeout=60)
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"faxbridge: FAXBRIDGE_{which}_PORT: 127.0.0.1:{taken} is in use"
    )
    assert "Traceback" not in result.stderr


def test_check_tries_the_ports_and_reports_one_in_use(
    faxbridge: Run, env: dict[str, str], taken: int
) -> None:
    """`check` binds the configured ports: one in use is an error naming its setting, exit 2."""
    env.update(FAXBRIDGE_SMTP_PORT=str(taken), FAXBRIDGE_HTTP_PORT=str(free_port()))
    result = faxbridge("check", "--json")
    assert result.returncode == 2
    ports = [f for f in json.loads(result.stdout)["findings"] if f["part"] == "ports"]
    assert ports == [
        {
            "part": "ports",
            "level": "error",
            "message": f"FAXBRIDGE_SMTP_PORT: 127.0.0.1:{taken} is in use",
            "fix": ports[0]["fix"],
        }
    ]


def test_check_lets_go_of_free_ports(faxbridge: Run, env: dict[str, str]) -> None:
    """With both ports free `check` says so and leaves them free (a server can listen there right after)."""
    smtp, http = free_port(), free_port()
    env.update(FAXBRIDGE_SMTP_PORT=str(smtp), FAXBRIDGE_HTTP_PORT=str(http))
    result = faxbridge("check", "--json")
    (ports,) = [f for f in json.loads(result.stdout)["findings"] if f["part"] == "ports"]
    assert ports["level"] == "ok"
    assert f"127.0.0.1:{smtp}" in ports["message"]
    for port in (smtp, http):
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_smtp_and_http_on_one_port_is_an_error(faxbridge: Run, env: dict[str, str]) -> None:
    """The same port for SMTP and HTTP is refused by `check` and `serve` alike, naming both settings."""
    port = str(free_port())
    env.update(FAXBRIDGE_SMTP_PORT=port, FAXBRIDGE_HTTP_PORT=port)
    check = faxbridge("check")
    assert check.returncode == 2
    assert f"FAXBRIDGE_HTTP_PORT: {port} is FAXBRIDGE_SMTP_PORT as well" in check.stdout
    serve = faxbridge("serve", timeout=60)
    assert serve.returncode == 2
    assert serve.stderr.strip() == f"faxbridge: FAXBRIDGE_HTTP_PORT: {port} is FAXBRIDGE_SMTP_PORT as well"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("SLACK_BOT_TOKEN", "FAXBRIDGE_SLACK_SIGNING_SECRET"),
        ("SLACK_SIGNING_SECRET", "FAXBRIDGE_SLACK_BOT_TOKEN"),
        ("SLACK_APP_TOKEN", "FAXBRIDGE_SLACK_BOT_TOKEN"),
    ],
)
def test_half_configured_slack_is_an_error_in_check(
    faxbridge: Run, env: dict[str, str], given: str, missing: str
) -> None:
    """One Slack credential without its partner is a check error saying what is missing, exit 2."""
    env[f"FAXBRIDGE_{given}"] = "xapp-1-x" if given == "SLACK_APP_TOKEN" else "xoxb-or-secret"
    env.update(FAXBRIDGE_SMTP_PORT=str(free_port()), FAXBRIDGE_HTTP_PORT=str(free_port()))
    result = faxbridge("check", "--json")
    assert result.returncode == 2
    (slack,) = [f for f in json.loads(result.stdout)["findings"] if f["part"] == "Slack"]
    assert slack["level"] == "error"
    assert f"FAXBRIDGE_{given} is set but {missing} is not" in slack["message"]
    assert "xoxb-or-secret" not in result.stdout  # the value itself is never printed


@pytest.mark.slow  # a real serve started and stopped
def test_half_configured_slack_is_a_warning_when_serve_starts(tmp_path: Path) -> None:
    """`serve` with only a bot token starts, and logs a WARNING saying Slack is off and what is missing."""
    serve = Serve(tmp_path, FAXBRIDGE_SLACK_BOT_TOKEN="xoxb-only-this")
    lines = serve.stop()
    warnings = [line for line in lines if "WARNING" in line and "Slack is off" in line]
    assert len(warnings) == 1
    assert "FAXBRIDGE_SLACK_SIGNING_SECRET is not" in warnings[0]
    assert "xoxb-only-this" not in "\n".join(lines)


def test_sandbox_on_a_port_in_use_exits_2_in_one_line(faxbridge: Run, taken: int) -> None:
    """`sandbox --port N` with N taken prints one line naming the option, exit 2, no traceback."""
    result = faxbridge("sandbox", "--port", str(taken), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"faxbridge: --port: 127.0.0.1:{taken} is in use"


async def test_a_port_taken_after_the_probe_still_ends_serve_in_one_line(
    tmp_path: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port taken between the probe and the real bind (injected: the probe finds all free) still ends
    `serve` with PortUnavailable naming the setting (mutation: start the SMTP server without `_listen`)."""
    monkeypatch.setattr(serve_module, "bind_problems", lambda settings: [])
    settings = Settings.from_mapping(
        {
            "data_dir": str(tmp_path / "var"),
            "smtp_port": str(taken),
            "http_port": str(free_port()),
            "sandbox_delay_seconds": "0.05",
        }
    )
    with pytest.raises(PortUnavailable) as caught:
        await serve_module.serve(settings)
    assert caught.value.reason == f"FAXBRIDGE_SMTP_PORT: 127.0.0.1:{taken} is in use"
