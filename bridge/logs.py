"""Logging: one line per event, plain text or JSON (FAXBRIDGE_LOG_FORMAT), never a secret or document."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A JSON object per line: time, level, logger, message, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Our convention: a line about a job starts "job %s" with the id as its first argument.
        if isinstance(record.msg, str) and record.msg.startswith("job %s") and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            entry["job_id"] = str(args[0])
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", *, quiet: bool = False) -> None:
    """Configure the root logger once; `quiet` keeps CLI output to warnings."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    # Libraries' request logs can carry URLs with tokens; keep them quiet.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "slack_bolt", "slack_sdk", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
