"""Subcommand help written the same way everywhere: a description, examples, defaults, the settings read."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from importlib import metadata

# What every command that opens the job store reads; named once so no command's list forgets one.
STORE_SETTINGS = ("DATA_DIR", "DATABASE_URL")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description and epilog as written; adds each option's default when it has a real one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        # A flag's False, an unset None and an empty string are not defaults worth printing.
        if (
            text
            and "%(default)" not in text
            and default not in (None, False, "", argparse.SUPPRESS)
            and not isinstance(default, list)
            and (action.option_strings or action.nargs in ("?", "*"))
        ):
            text += " (default: %(default)s)"
        return text


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    summary: str,
    description: str,
    examples: Sequence[str],
    reads: Sequence[str],
) -> argparse.ArgumentParser:
    """A subcommand whose `--help` says what it does, shows examples and names the settings it reads.

    `reads` are setting names without the FAXBRIDGE_ prefix; "*" stands for every setting.
    """
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_epilog(examples, reads),
        formatter_class=HelpFormatter,
    )


def _epilog(examples: Sequence[str], reads: Sequence[str]) -> str:
    lines = ["examples:", *(f"  {example}" for example in examples), "", "settings read:"]
    if "*" in reads:
        named = [r for r in reads if r != "*"]
        lead = "every FAXBRIDGE_* setting (README, Configuration)"
        text = lead + (", above all " + ", ".join(f"FAXBRIDGE_{r}" for r in named) if named else "")
    else:
        text = ", ".join(f"FAXBRIDGE_{r}" for r in reads) if reads else "none"
    lines += textwrap.wrap(text, width=76, initial_indent="  ", subsequent_indent="  ")
    lines += ["", "Settings come from the environment, or a TOML file named by FAXBRIDGE_CONFIG."]
    return "\n".join(lines)


def version() -> str:
    """The installed package's version, or "unknown" when run from a tree that was never installed."""
    try:
        return metadata.version("faxbridge")
    except metadata.PackageNotFoundError:
        return "unknown"
