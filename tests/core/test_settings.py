"""Settings from the environment and a TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.settings import Settings, setting_names


def test_defaults_are_demo_mode() -> None:
    """With nothing set, the bridge runs in demo mode with the documented defaults."""
    settings = Settings.load({})
    assert settings.demo
    assert (settings.smtp.host, settings.smtp.port, settings.http.port) == ("127.0.0.1", 2525, 8080)
    assert settings.smtp.fax_domain == "fax.localhost"
    assert settings.store.database_path == Path("var/faxbridge.db")
    assert settings.core.countries == ("US",)
    assert settings.relay.reply_sender == "fax@fax.localhost"
    assert settings.smtp.max_message_bytes == 57671680


def test_environment_values_are_typed() -> None:
    """FAXBRIDGE_* strings become ints, floats, bools and lists."""
    settings = Settings.load(
        {
            "FAXBRIDGE_SMTP_PORT": "2626",
            "FAXBRIDGE_RETRY_DELAY_SECONDS": "1.5",
            "FAXBRIDGE_SMTP_RELAY_STARTTLS": "no",
            "FAXBRIDGE_ALLOWED_SENDERS": "ann@example.com, @example.org",
            "FAXBRIDGE_ALLOWED_COUNTRIES": "US,CA",
            "FAXBRIDGE_COVER": "provider:5",
        }
    )
    assert settings.smtp.port == 2626
    assert settings.core.retry_delay_seconds == 1.5
    assert settings.relay.relay_starttls is False
    assert settings.core.allowed_senders == ("ann@example.com", "@example.org")
    assert settings.smtp.allowed_senders == settings.core.allowed_senders  # shared with the intake
    assert settings.core.countries == ("US", "CA")
    assert settings.core.provider_cover_index == 5


def test_environment_wins_over_the_toml_file(tmp_path: Path) -> None:
    """A value in the environment overrides the same one in FAXBRIDGE_CONFIG."""
    config = tmp_path / "faxbridge.toml"
    config.write_text('fax_domain = "fax.example.com"\nhttp_port = 9000\n', encoding="utf-8")
    settings = Settings.load({"FAXBRIDGE_CONFIG": str(config), "FAXBRIDGE_HTTP_PORT": "9100"})
    assert (settings.smtp.fax_domain, settings.http.port) == ("fax.example.com", 9100)
    assert settings.relay.reply_sender == "fax@fax.example.com"  # the relay section shares the domain


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAXBRIDGE_COVER": "fancy"}, "FAXBRIDGE_COVER"),
        ({"FAXBRIDGE_SMTP_PORT": "lots"}, "FAXBRIDGE_SMTP_PORT"),
        ({"FAXBRIDGE_PROVIDER": "ringcentral"}, "FAXBRIDGE_RINGCENTRAL_JWT"),
        ({"FAXBRIDGE_LOG_FORMAT": "xml"}, "FAXBRIDGE_LOG_FORMAT"),
        ({"FAXBRIDGE_CONFIG": "/nonexistent/faxbridge.toml"}, "FAXBRIDGE_CONFIG"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    """An unusable setting is refused with the name of the variable to fix."""
    with pytest.raises(ConfigError, match=message):
        Settings.load(env)


def test_secrets_are_redacted() -> None:
    """The printable form of the settings hides every secret."""
    settings = Settings.load(
        {"FAXBRIDGE_SLACK_BOT_TOKEN": "xoxb-secret", "FAXBRIDGE_SMTP_RELAY_PASSWORD": "pw"}
    )
    text = repr(settings.redacted())
    assert "xoxb-secret" not in text
    assert "'pw'" not in text
    assert settings.redacted()["slack_bot_token"] == "***"


def test_repr_never_shows_secrets() -> None:
    """Printing the settings object itself (as a traceback might) shows no secret."""
    settings = Settings.load(
        {"FAXBRIDGE_RINGCENTRAL_JWT": "eyJ-very-secret", "FAXBRIDGE_SLACK_SIGNING_SECRET": "sig"}
    )
    assert "eyJ-very-secret" not in repr(settings)
    assert "sig'" not in repr(settings)


def test_a_secret_file_loses_only_its_final_newline(tmp_path: Path) -> None:
    """A secret file's content is the value as written but for one final newline (mutation: strip())."""
    secret = tmp_path / "jwt"
    secret.write_text(" eyJ.a.b \n\n", encoding="utf-8")
    settings = Settings.load({"FAXBRIDGE_RINGCENTRAL_JWT_FILE": str(secret)})
    assert settings.ringcentral.jwt == " eyJ.a.b \n"
    crlf = tmp_path / "crlf"
    crlf.write_bytes(b"pw\r\n")
    assert Settings.load({"FAXBRIDGE_SMTP_RELAY_PASSWORD_FILE": str(crlf)}).relay.password == "pw"


def test_every_secret_can_come_from_a_file_or_a_credential(tmp_path: Path) -> None:
    """Each secret setting reads FAXBRIDGE_<NAME>_FILE and $CREDENTIALS_DIRECTORY/<name>."""
    for name, secret in setting_names().items():
        if not secret:
            continue
        path = tmp_path / name
        path.write_text(f"value-of-{name}\n", encoding="utf-8")
        from_file = Settings.load({f"FAXBRIDGE_{name.upper()}_FILE": str(path)})
        from_credential = Settings.load({"CREDENTIALS_DIRECTORY": str(tmp_path)})
        assert from_file.values()[name] == from_credential.values()[name] == f"value-of-{name}"
        path.unlink()


def test_each_setting_lives_in_one_section_under_its_documented_name() -> None:
    """Every FAXBRIDGE_* name maps to one field of one section, and a value set by that name lands there."""
    names = setting_names()
    assert {
        "smtp_port",
        "smtp_relay_port",
        "slack_bot_token",
        "ringcentral_jwt",
        "data_dir",
        "log_level",
    } <= set(names)
    settings = Settings.load(
        {"FAXBRIDGE_SMTP_RELAY_PORT": "2587", "FAXBRIDGE_SMTP_PORT": "2526", "FAXBRIDGE_LOG_LEVEL": "debug"}
    )
    assert (settings.relay.port, settings.smtp.port, settings.log.level) == (2587, 2526, "debug")
    assert settings.values()["smtp_relay_port"] == 2587


def test_only_the_composition_sees_the_whole_settings() -> None:
    """Outside the command line (and the health probe, a command of its own), no module imports the whole
    Settings: each component is handed its own section (mutation: a component taking Settings again)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    allowed = {"adapters/cli", "adapters/http/probe.py", "bridge/settings.py"}
    offenders = []
    for path in [*root.glob("bridge/**/*.py"), *root.glob("adapters/**/*.py")]:
        where = path.relative_to(root).as_posix()
        if any(where == a or where.startswith(a + "/") for a in allowed):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = node.names if isinstance(node, ast.ImportFrom) and node.module == "bridge.settings" else []
            if any(alias.name == "Settings" for alias in imported):
                offenders.append(where)
    assert offenders == []
