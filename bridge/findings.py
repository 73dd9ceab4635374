"""What a check of the configuration found, how bad it is, and how it is shown and turned into an exit code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"  # the configuration is wrong: exit 2
    UNREACHABLE = "unreachable"  # a service could not be reached: exit 1


@dataclass(frozen=True, kw_only=True)
class Finding:
    part: str
    level: Level
    message: str
    fix: str = ""


def exit_code(findings: list[Finding]) -> int:
    """0 when all is well (warnings allowed), 2 for a configuration error, 1 when a service is unreachable."""
    levels = {f.level for f in findings}
    if Level.ERROR in levels:
        return 2
    if Level.UNREACHABLE in levels:
        return 1
    return 0


def finding_data(finding: Finding) -> dict[str, str]:
    """A finding as `check --json` prints it; `fix` is empty when there is nothing to do."""
    return {
        "part": finding.part,
        "level": finding.level.value,
        "message": finding.message,
        "fix": finding.fix,
    }


def render(findings: list[Finding]) -> str:
    marks = {Level.OK: "ok  ", Level.WARNING: "warn", Level.ERROR: "FAIL", Level.UNREACHABLE: "FAIL"}
    lines = []
    for finding in findings:
        lines.append(f"[{marks[finding.level]}] {finding.part}: {finding.message}")
        if finding.fix and finding.level is not Level.OK:
            lines.append(f"       fix: {finding.fix}")
    return "\n".join(lines)
