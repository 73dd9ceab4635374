"""`faxbridge --version` and every subcommand's help: description, examples, defaults, settings read."""

from __future__ import annotations

from importlib import metadata

import pytest

from tests.cli.conftest import Run

SUBCOMMANDS = (
    "serve",
    "send",
    "jobs",
    "status",
    "retry",
    "cancel",
    "resolve",
    "check",
    "backup",
    "sandbox",
    "slack-manifest",
)


def test_version_prints_the_package_version(faxbridge: Run) -> None:
    """`faxbridge --version` prints "faxbridge X.Y.Z" from the installed package and exits 0."""
    result = faxbridge("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"faxbridge {metadata.version('faxbridge')}"


def test_top_level_help_lists_every_command_and_the_exit_codes(faxbridge: Run) -> None:
    """`faxbridge --help` names each subcommand and documents the exit codes, 130 and 141 included."""
    result = faxbridge("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout
    assert "130" in result.stdout
    assert "141" in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_help_has_description_examples_and_settings(faxbridge: Run, name: str) -> None:
    """Each subcommand's --help has a description, at least one runnable example and the settings it reads."""
    result = faxbridge(name, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith(f"usage: faxbridge {name}")
    description = rest.split("\n\n")[0]
    assert len(description) > 30  # more than the one-line summary of the command list
    examples = text.split("examples:\n", 1)[1].split("\n\n")[0].splitlines()
    assert examples
    assert all(f"faxbridge {name}" in line for line in examples)
    reads = text.split("settings read:\n", 1)[1]
    assert "FAXBRIDGE_" in reads
    assert "default: None" not in text  # an unset option, or a flag, has no default worth showing
    assert "default: False" not in text


def test_help_shows_real_defaults_only(faxbridge: Run) -> None:
    """Options show their default when they have one (jobs --limit 100, sandbox --port 8090)."""
    assert "(default: 100)" in faxbridge("jobs", "--help").stdout
    assert "(default: 8090)" in faxbridge("sandbox", "--help").stdout


def test_store_commands_name_the_data_directory_setting(faxbridge: Run) -> None:
    """Commands that read the job store say they read FAXBRIDGE_DATA_DIR and FAXBRIDGE_DATABASE_URL."""
    for name in ("send", "jobs", "status", "retry", "cancel", "resolve", "backup"):
        reads = faxbridge(name, "--help").stdout.split("settings read:\n", 1)[1]
        assert "FAXBRIDGE_DATA_DIR" in reads
        assert "FAXBRIDGE_DATABASE_URL" in reads
