"""What the `faxbridge` executable writes to stderr: ISO 8601 times with the zone, the level
FAXBRIDGE_LOG_LEVEL asks for, no library chatter, and the job id carried as context."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.logs import JobField, JsonFormatter, TextFormatter, about_job
from bridge.settings import Settings
from bridge.testing import sample_pdf
from tests.helpers.executable import Serve, faxbridge, operator_env
from tests.helpers.waiting import wait_for

FAST = {"FAXBRIDGE_SANDBOX_DELAY_SECONDS": "0.1", "FAXBRIDGE_POLL_SECONDS": "0.2"}
ISO_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) ")
LIBRARIES = ("fontTools", "pypdf", "httpx", "httpcore", "aiohttp", "asyncio", "slack_bolt", "mail.log", "PIL")


def _malformed_pdf(path: Path) -> Path:
    """A readable PDF whose startxref points nowhere: pypdf repairs it and warns while doing so."""
    data = sample_pdf(1)
    path.write_bytes(data[: data.rfind(b"startxref")] + b"startxref\n99\n%%EOF\n")
    return path


def _logger_of(line: str) -> str:
    return line.split(" ", 3)[2].rstrip(":") if ISO_LINE.match(line) else ""


def _record(message: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord("faxbridge.test", logging.INFO, __file__, 1, message, args, None)
    JobField().filter(record)
    return record


def test_json_lines_carry_the_job_in_context_not_parsed_from_the_message() -> None:
    """A line logged while working on a job carries its id though the message never names it
    (mutation: JobField not reading the context, or job_id parsed out of "job %s" messages)."""
    with about_job("0123abcd"):
        inside = json.loads(JsonFormatter().format(_record("token refreshed")))
    outside = json.loads(JsonFormatter().format(_record("job %s looks like a job line", "ffff")))
    assert inside["job_id"] == "0123abcd"
    assert "job_id" not in outside


def test_text_lines_start_with_iso_8601_time_and_zone() -> None:
    """The text format's time has a date, milliseconds and a UTC offset (mutation: `%H:%M:%S`)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    handler.handle(_record("hello"))
    assert ISO_LINE.match(stream.getvalue()), stream.getvalue()


def test_log_level_setting_is_checked() -> None:
    """FAXBRIDGE_LOG_LEVEL takes the documented levels in any case and refuses others by name."""
    assert Settings.from_mapping({"log_level": "debug"}).log_level == "debug"
    with pytest.raises(ConfigError, match="FAXBRIDGE_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"):
        Settings.from_mapping({"log_level": "LOUD"})


def test_bad_log_level_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    """`faxbridge serve` with an unknown level exits 2 with one line naming the variable."""
    done = faxbridge(operator_env(tmp_path / "var", FAXBRIDGE_LOG_LEVEL="chatty"), "serve")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "FAXBRIDGE_LOG_LEVEL" in done.stderr


@pytest.mark.slow  # the installed executable run on a broken PDF
def test_send_keeps_pypdf_warnings_off_stderr(tmp_path: Path) -> None:
    """`faxbridge send` of a PDF pypdf must repair prints no pypdf warning, even from its worker
    processes (mutation: pypdf not held at ERROR, or workers not set up like the parent)."""
    document = _malformed_pdf(tmp_path / "scan.pdf")
    done = faxbridge(operator_env(tmp_path / "var"), "send", "--to", "+12025550123", str(document))
    assert done.returncode == 0, done.stderr
    assert "queued" in done.stdout
    assert done.stderr == ""


@pytest.mark.slow  # a real serve carrying a fax to its end
def test_serve_at_debug_shows_its_own_detail_and_no_library_chatter(tmp_path: Path) -> None:
    """At DEBUG, serve's lines all carry an ISO 8601 time with zone and its own debug lines show,
    but drawing a cover and repairing a PDF add no fontTools or pypdf lines (mutation: a library
    taken off LIBRARY_LEVELS, or the level setting ignored)."""
    serve = Serve(tmp_path, FAXBRIDGE_LOG_LEVEL="DEBUG", **FAST)
    try:
        document = _malformed_pdf(tmp_path / "scan.pdf")
        sent = serve.run("send", "--to", "+12025550123", "--cover-text", "Hello", str(document))
        assert sent.returncode == 0, sent.stderr
        wait_for(lambda: serve.jobs()[0]["state"] == "delivered", 90, "the fax to be delivered", step=0.5)
    finally:
        lines = serve.stop()
    assert serve.process.returncode == 0, "\n".join(lines)
    assert all(ISO_LINE.match(line) for line in lines), [line for line in lines if not ISO_LINE.match(line)]
    assert any(" DEBUG " in line for line in lines)
    chatter = [line for line in lines if _logger_of(line).split(".")[0] in LIBRARIES]
    assert chatter == []


@pytest.mark.slow  # a real serve started and stopped
def test_serve_at_warning_leaves_out_info(tmp_path: Path) -> None:
    """FAXBRIDGE_LOG_LEVEL=WARNING keeps the demo banner (a warning) and drops the INFO lines."""
    serve = Serve(tmp_path, FAXBRIDGE_LOG_LEVEL="WARNING")
    # The banner and the INFO line "faxbridge serving" are written together, after /healthz answers.
    wait_for(lambda: "DEMO MODE" in serve.log.read_text(), 30, "the demo banner")
    lines = serve.stop()
    assert any("DEMO MODE" in line for line in lines)
    assert not any(" INFO " in line for line in lines), lines
