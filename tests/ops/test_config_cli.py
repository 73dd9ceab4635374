"""Configuration as the real `faxbridge` executable reads it: strict names, checked values, secret files,
one configuration file for every command, and no empty store invented by a command that reads state."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from bridge.testing import sample_pdf
from tests.helpers.environment import clean_env
from tests.helpers.executable import FAXBRIDGE
from tests.ops.conftest import GOOD_TOKEN

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A clean environment (no FAXBRIDGE_*, no credentials, no system config file) with no data directory
    set, so a command looks in ./var unless a file or `settings` say otherwise."""
    return clean_env(**{"FAXBRIDGE_SYSTEM_CONFIG": str(tmp_path / "no-system-config.toml"), **settings})


def faxbridge(
    tmp_path: Path, *args: str, cwd: Path | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FAXBRIDGE), *args],
        env=_env(tmp_path, **settings),
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a run that exited 2."""
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "invalid literal" not in done.stderr
    return lines[0]


def test_misspelled_variables_are_refused_with_the_names_meant(tmp_path: Path) -> None:
    """`FAXBRIDGE_SMTP_PROT` and `FAXBRIDGE_ALOWED_SENDERS` make `check` exit 2 suggesting the real names."""
    line = one_line_error(
        faxbridge(tmp_path, "check", FAXBRIDGE_SMTP_PROT="1", FAXBRIDGE_ALOWED_SENDERS="x@example.com")
    )
    assert "FAXBRIDGE_SMTP_PROT (did you mean FAXBRIDGE_SMTP_PORT?)" in line
    assert "FAXBRIDGE_ALOWED_SENDERS (did you mean FAXBRIDGE_ALLOWED_SENDERS?)" in line


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"FAXBRIDGE_SMTP_PORT": "99999"},
            "FAXBRIDGE_SMTP_PORT='99999': must be a port number from 1 to 65535",
        ),
        ({"FAXBRIDGE_HTTP_PORT": "abc"}, "FAXBRIDGE_HTTP_PORT='abc': must be a port number"),
        ({"FAXBRIDGE_SMTP_RELAY_PORT": "0"}, "FAXBRIDGE_SMTP_RELAY_PORT='0': must be a port number from 1"),
        (
            {"FAXBRIDGE_RETRY_ATTEMPTS": "-5"},
            "FAXBRIDGE_RETRY_ATTEMPTS='-5': must be a whole number, 0 or more",
        ),
        ({"FAXBRIDGE_POLL_SECONDS": "0"}, "FAXBRIDGE_POLL_SECONDS='0': must be a number above 0"),
        ({"FAXBRIDGE_RETENTION_DAYS": "nan"}, "FAXBRIDGE_RETENTION_DAYS='nan': must be a number"),
        ({"FAXBRIDGE_DEFAULT_REGION": "XX"}, "FAXBRIDGE_DEFAULT_REGION='XX': must be a region"),
        ({"FAXBRIDGE_ALLOWED_COUNTRIES": "US,XX"}, "each entry must be a region phonenumbers knows"),
        ({"FAXBRIDGE_LOG_FORMAT": "xml"}, "FAXBRIDGE_LOG_FORMAT='xml': must be one of text, json"),
        ({"FAXBRIDGE_SLACK_COMMAND": "fax"}, "FAXBRIDGE_SLACK_COMMAND='fax': must be a slash command"),
        (
            {"FAXBRIDGE_RINGCENTRAL_SERVER_URL": "http://platform.ringcentral.com"},
            "FAXBRIDGE_RINGCENTRAL_SERVER_URL='http://platform.ringcentral.com': must be an https:// URL",
        ),
        ({"FAXBRIDGE_SLACK_API_URL": "http://slack.com/api/"}, "FAXBRIDGE_SLACK_API_URL="),
        (
            {
                "FAXBRIDGE_SMTP_HOST": "0.0.0.0",
                "FAXBRIDGE_SMTP_AUTH_USERNAME": "scanner",
                "FAXBRIDGE_SMTP_AUTH_PASSWORD": "s3cret-pw",
            },
            "passwords would cross the network in clear",
        ),
    ],
)
def test_check_refuses_a_value_out_of_range_in_one_line(
    tmp_path: Path, settings: dict[str, str], expected: str
) -> None:
    """A value out of range or of the wrong form makes `check` exit 2 with one line naming the variable
    and what is allowed (mutation: dropping the field's rule lets `check` pass)."""
    line = one_line_error(faxbridge(tmp_path, "check", **settings))
    assert expected in line
    assert "s3cret-pw" not in line


def test_serve_refuses_a_bad_value_before_starting(tmp_path: Path) -> None:
    """`serve` exits 2 with the same one line, and creates no data directory."""
    line = one_line_error(faxbridge(tmp_path, "serve", FAXBRIDGE_SMTP_PORT="70000"))
    assert "FAXBRIDGE_SMTP_PORT='70000'" in line
    assert not (tmp_path / "var").exists()


def test_plain_http_to_this_machine_is_allowed(tmp_path: Path) -> None:
    """RINGCENTRAL_SERVER_URL may be plain http only to loopback (a local stand-in); the JWT stays here."""
    line = one_line_error(
        faxbridge(tmp_path, "jobs", FAXBRIDGE_RINGCENTRAL_SERVER_URL="http://127.0.0.1:8090")
    )
    assert "no faxbridge store" in line  # the settings loaded; only the store is missing


# --- the TOML file --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("smtp_port = 99999\n", "faxbridge.toml: smtp_port = 99999: must be a port number"),
        ('smtp_port = "abc"\n', "faxbridge.toml: smtp_port = 'abc': must be a port number"),
        ("poll_seconds = true\n", "faxbridge.toml: poll_seconds = True: must be a number above 0"),
        ("smtp_prot = 2525\n", "unknown key smtp_prot (did you mean smtp_port?)"),
        ("FAXBRIDGE_DATA_DIR = '/srv'\n", "unknown key FAXBRIDGE_DATA_DIR (did you mean data_dir?"),
        (
            "[smtp]\nport = 2525\n",
            "[smtp] table: settings are top-level keys such as smtp_port = 2525 (did you mean smtp_port",
        ),
        (
            'data_dir = "/srv"\n[faxbridge]\nsmtp_port = 2526\n',
            "[faxbridge] table: write the settings as top-level keys",
        ),
        (
            'ringcentral_jwt = "eyJ-secret"\n',
            "ringcentral_jwt is a secret and does not belong in the config file",
        ),
        ("smtp_port = \n", "is not valid TOML"),
    ],
)
def test_a_bad_config_file_names_the_file_and_key(tmp_path: Path, content: str, expected: str) -> None:
    """A mistake in the TOML file is exit 2 naming the file and key, never the environment variable."""
    config = tmp_path / "faxbridge.toml"
    config.write_text(content, encoding="utf-8")
    line = one_line_error(faxbridge(tmp_path, "--config", str(config), "check"))
    assert str(config) in line
    assert expected in line
    assert "FAXBRIDGE_SMTP_PORT" not in line
    assert "eyJ-secret" not in line


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    """A config file that was asked for and is not there is exit 2 naming it and how it was asked for."""
    line = one_line_error(faxbridge(tmp_path, "jobs", FAXBRIDGE_CONFIG=str(tmp_path / "nope.toml")))
    assert f"{tmp_path / 'nope.toml'} (from FAXBRIDGE_CONFIG)" in line


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    """A variable set in the environment overrides the same setting in the file."""
    config = tmp_path / "faxbridge.toml"
    config.write_text('data_dir = "from-file"\n', encoding="utf-8")
    line = one_line_error(faxbridge(tmp_path, "--config", str(config), "jobs", FAXBRIDGE_DATA_DIR="from-env"))
    assert str(tmp_path / "from-env") in line


# --- secrets from files ---------------------------------------------------------------------------------


async def _check(tmp_path: Path, **settings: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(FAXBRIDGE),
        "check",
        env=_env(tmp_path, **settings),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_a_secret_comes_from_its_file(tmp_path: Path, fake_slack: str) -> None:
    """FAXBRIDGE_SLACK_BOT_TOKEN_FILE is read, one trailing newline dropped, and the token is what Slack gets."""
    token_file = tmp_path / "bot-token"
    token_file.write_text(GOOD_TOKEN + "\n", encoding="utf-8")
    _, out, err = await _check(
        tmp_path,
        FAXBRIDGE_SLACK_API_URL=fake_slack,
        FAXBRIDGE_SLACK_BOT_TOKEN_FILE=str(token_file),
        FAXBRIDGE_SLACK_SIGNING_SECRET="sig",
    )
    assert "bot faxbot in Acme" in out, out + err
    assert GOOD_TOKEN not in out + err


async def test_a_secret_comes_from_the_systemd_credentials_directory(tmp_path: Path, fake_slack: str) -> None:
    """$CREDENTIALS_DIRECTORY/slack_bot_token is the bot token when nothing else sets it."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "slack_bot_token").write_text(GOOD_TOKEN + "\n", encoding="utf-8")
    (credentials / "slack_signing_secret").write_text("sig", encoding="utf-8")
    _, out, err = await _check(
        tmp_path, FAXBRIDGE_SLACK_API_URL=fake_slack, CREDENTIALS_DIRECTORY=str(credentials)
    )
    assert "bot faxbot in Acme" in out, out + err


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    """Setting both FAXBRIDGE_RINGCENTRAL_JWT and FAXBRIDGE_RINGCENTRAL_JWT_FILE is exit 2, neither shown."""
    secret = tmp_path / "jwt"
    secret.write_text("eyJ-from-file", encoding="utf-8")
    line = one_line_error(
        faxbridge(
            tmp_path,
            "check",
            FAXBRIDGE_RINGCENTRAL_JWT="eyJ-from-env",
            FAXBRIDGE_RINGCENTRAL_JWT_FILE=str(secret),
        )
    )
    assert "FAXBRIDGE_RINGCENTRAL_JWT and FAXBRIDGE_RINGCENTRAL_JWT_FILE are both set" in line
    assert "eyJ-from" not in line


def test_a_secret_and_its_credential_together_are_refused(tmp_path: Path) -> None:
    """A secret in the environment and in $CREDENTIALS_DIRECTORY is ambiguous: exit 2 naming both."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "smtp_relay_password").write_text("pw-file", encoding="utf-8")
    line = one_line_error(
        faxbridge(
            tmp_path, "check", FAXBRIDGE_SMTP_RELAY_PASSWORD="pw-env", CREDENTIALS_DIRECTORY=str(credentials)
        )
    )
    assert "FAXBRIDGE_SMTP_RELAY_PASSWORD is set and so is the credential smtp_relay_password" in line


@pytest.mark.parametrize(("content", "expected"), [(None, "No such file"), ("", "is empty")])
def test_an_unreadable_or_empty_secret_file_is_refused(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    """A _FILE that cannot be read or holds nothing is exit 2 naming the variable and the path."""
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content, encoding="utf-8")
    line = one_line_error(faxbridge(tmp_path, "check", FAXBRIDGE_SLACK_APP_TOKEN_FILE=str(secret)))
    assert "FAXBRIDGE_SLACK_APP_TOKEN_FILE: " in line and str(secret) in line and expected in line


def test_only_secrets_come_from_files(tmp_path: Path) -> None:
    """A _FILE variant of a setting that is no secret is an unknown name."""
    line = one_line_error(faxbridge(tmp_path, "check", FAXBRIDGE_SMTP_PORT_FILE="/dev/null"))
    assert "FAXBRIDGE_SMTP_PORT_FILE (did you mean FAXBRIDGE_SMTP_PORT?)" in line


# --- one configuration for every command ----------------------------------------------------------------


def _send(tmp_path: Path, *config: str, **settings: str) -> str:
    document = tmp_path / "letter.pdf"
    document.write_bytes(sample_pdf(1))
    done = faxbridge(tmp_path, *config, "send", "--to", "+12025550123", str(document), **settings)
    assert done.returncode == 0, done
    return done.stdout.split()[0]


@pytest.mark.parametrize("before", [True, False])
def test_config_option_points_every_command_at_the_same_store(tmp_path: Path, before: bool) -> None:
    """`--config PATH`, before or after the command, gives `send` and `jobs` the file's data directory."""
    config = tmp_path / "faxbridge.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    job_id = _send(tmp_path, "--config", str(config))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = (
        ("--config", str(config), "jobs", "--json") if before else ("jobs", "--json", "--config", str(config))
    )
    done = faxbridge(tmp_path, *args, cwd=elsewhere)
    assert done.returncode == 0, done
    assert [j["id"] for j in json.loads(done.stdout)] == [job_id]
    assert not (elsewhere / "var").exists()


def test_the_system_config_file_is_read_when_present(tmp_path: Path) -> None:
    """With no --config or FAXBRIDGE_CONFIG, the system file (normally /etc/faxbridge/faxbridge.toml) applies."""
    system = tmp_path / "system.toml"
    system.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    job_id = _send(tmp_path, FAXBRIDGE_SYSTEM_CONFIG=str(system))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = faxbridge(tmp_path, "status", job_id, "--json", cwd=elsewhere, FAXBRIDGE_SYSTEM_CONFIG=str(system))
    assert done.returncode == 0, done
    assert json.loads(done.stdout)["id"] == job_id
    # --config replaces the system file rather than adding to it.
    other = tmp_path / "other.toml"
    other.write_text(f'data_dir = "{tmp_path / "other"}"\n', encoding="utf-8")
    line = one_line_error(
        faxbridge(
            tmp_path, "--config", str(other), "jobs", cwd=elsewhere, FAXBRIDGE_SYSTEM_CONFIG=str(system)
        )
    )
    assert str(tmp_path / "other") in line


@pytest.mark.parametrize(
    "command",
    [
        ("jobs",),
        ("jobs", "--json"),
        ("status", "0123abcd"),
        ("retry", "0123abcd"),
        ("cancel", "0123abcd"),
        ("resolve", "0123abcd", "--sent"),
    ],
)
def test_commands_that_read_state_never_invent_a_store(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Where there is no store, a reading command exits 2 naming the data directory and how to point it
    elsewhere, and creates nothing (mutation: dropping the check creates ./var and prints "no jobs")."""
    line = one_line_error(faxbridge(tmp_path, *command))
    assert f"no faxbridge store in the data directory {tmp_path / 'var'}" in line
    assert "--config" in line and "FAXBRIDGE_DATA_DIR" in line
    assert not (tmp_path / "var").exists()


def test_check_reports_a_missing_store_without_making_one(tmp_path: Path) -> None:
    """`check` on a data directory with no store warns where it looked and creates no database there
    (mutation: opening the store in check_store first makes an empty faxbridge.db)."""
    result = faxbridge(tmp_path, "check", "--json")
    store = [f for f in json.loads(result.stdout)["findings"] if f["part"] == "job store"]
    assert store and store[0]["level"] == "warning" and "no store yet" in store[0]["message"]
    assert not (tmp_path / "var" / "faxbridge.db").exists()


def test_send_creates_the_store(tmp_path: Path) -> None:
    """`send` is a way in: on a fresh data directory it creates the store and queues the fax."""
    _send(tmp_path)
    assert (tmp_path / "var" / "faxbridge.db").exists()
    done = faxbridge(tmp_path, "jobs")
    assert done.returncode == 0, done


# --- the shipped examples work as the docs use them ----------------------------------------------------


def test_the_env_example_loads_with_every_line_uncommented(tmp_path: Path) -> None:
    """Every example value in deploy/faxbridge.env.example passes the strict checks, sourced by the shell
    the way docs/install.md does it (`set -a; . FILE; set +a`)."""
    example = (ROOT / "deploy" / "faxbridge.env.example").read_text(encoding="utf-8")
    env_file = tmp_path / "faxbridge.env"
    env_file.write_text(
        "\n".join(
            line.removeprefix("#") if line.startswith("#FAXBRIDGE_") else line
            for line in example.splitlines()
        ),
        encoding="utf-8",
    )
    script = f'set -a && . "{env_file}" && set +a && export FAXBRIDGE_DATA_DIR="{tmp_path / "var"}" && exec "{FAXBRIDGE}" jobs'
    done = subprocess.run(
        ["sh", "-c", script], env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    # The store is not there yet; getting that far means every setting loaded.
    assert "point this command at the bridge's data" in one_line_error(done)


def test_the_toml_example_loads_and_names_the_service_data_directory(tmp_path: Path) -> None:
    """deploy/faxbridge.toml.example is valid, strict TOML whose data directory is the service's."""
    line = one_line_error(
        faxbridge(tmp_path, "--config", str(ROOT / "deploy" / "faxbridge.toml.example"), "jobs")
    )
    assert "no faxbridge store in the data directory /var/lib/faxbridge" in line


def test_check_says_which_configuration_it_read(tmp_path: Path) -> None:
    """`check` names the config file it read (here the system one), or says there was none."""
    system = tmp_path / "system.toml"
    system.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    with_file = faxbridge(tmp_path, "check", FAXBRIDGE_SYSTEM_CONFIG=str(system))
    assert f"[ok  ] settings: read from {system} and the FAXBRIDGE_* variables" in with_file.stdout, with_file
    without = faxbridge(tmp_path, "check")
    assert "settings: read from the FAXBRIDGE_* variables and defaults (no config file)" in without.stdout
