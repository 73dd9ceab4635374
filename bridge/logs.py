"""Logging: one line per event, plain text or JSON (FAXBRIDGE_LOG_FORMAT), never a secret or document."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
# Libraries log what they do at INFO (fontTools about forty lines per cover page drawn, aiohttp a
# line per request, httpx every URL, which can carry a token): only their warnings reach our log.
LIBRARY_LEVELS = {
    **dict.fromkeys(
        (
            "asyncio",
            "aiohttp",
            "aiosmtpd",
            "mail.log",  # aiosmtpd's own logger
            "httpx",
            "httpcore",
            "slack_bolt",
            "slack_sdk",
            "fontTools",
            "fpdf",
            "PIL",
            "pebble",
            "multiprocessing",
            "dkim",
            "ringcentral",
        ),
        logging.WARNING,
    ),
    # pypdf warns about every repair of a malformed PDF ("incorrect startxref pointer"); the bridge
    # judges documents itself and says so in the job's own words, so these stay out of the log.
    "pypdf": logging.ERROR,
    "tnefparse": logging.CRITICAL,
}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_job: ContextVar[str | None] = ContextVar("faxbridge_job", default=None)


@dataclass(frozen=True)
class LogConfig:
    """How this process logs; handed to worker processes so their lines look the same."""

    fmt: str = "text"
    level: int = logging.INFO


_config: LogConfig | None = None


@contextlib.contextmanager
def about_job(job_id: str) -> Iterator[None]:
    """Every line logged inside the block (and in tasks started from it) belongs to this job."""
    token = _job.set(job_id)
    try:
        yield
    finally:
        _job.reset(token)


def current_job() -> str | None:
    """The job the code running now works on, if any."""
    return _job.get()


class JobField(logging.Filter):
    """Gives every record a `job_id` attribute: the job in context, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = _job.get()
        return True


def timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 in local time with its offset, to the millisecond: 2026-12-02T09:30:41.123+00:00."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <message>`; the time in ISO 8601 with its zone."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return timestamp(record)


class JsonFormatter(logging.Formatter):
    """A JSON object per line: time, level, logger, message, the job in context, and `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if extra.get("job_id") is None:
            extra.pop("job_id", None)
        entry.update(extra)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def level_number(name: str) -> int:
    """The logging level of a FAXBRIDGE_LOG_LEVEL value (any case)."""
    return logging.getLevelNamesMapping()[name.upper()]


def setup_logging(fmt: str = "text", *, level: str = "INFO", quiet: bool = False) -> None:
    """Configure the root logger; `quiet` (the reporting commands) shows warnings and worse only."""
    number = level_number(level)
    configure(LogConfig(fmt=fmt, level=max(number, logging.WARNING) if quiet else number))


def configure(config: LogConfig) -> None:
    """Install one stderr handler in this process (also run in each worker process)."""
    global _config
    _config = config
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if config.fmt == "json" else TextFormatter())
    handler.addFilter(JobField())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    for name, floor in LIBRARY_LEVELS.items():
        # Never below a library's floor, even at DEBUG: their debug lines can carry URLs with tokens.
        logging.getLogger(name).setLevel(max(floor, config.level))


def current_config() -> LogConfig | None:
    """How this process was set up, for worker processes to copy; None when nobody set it up."""
    return _config
