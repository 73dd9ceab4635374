"""Settings from FAXBRIDGE_* environment variables, secret files and an optional TOML file (environment wins)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from bridge import setting_rules as rules
from bridge.errors import ConfigError
from bridge.hosts import is_loopback
from bridge.logs import FORMATS, LEVELS
from bridge.setting_sources import PREFIX, Given, env_name, gather

RELAY_STARTTLS = rules.RELAY_STARTTLS_CHOICES
SENDER_AUTH_MODES = rules.SENDER_AUTH_MODES
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# Demo mode waits seconds, not minutes: a busy demo number is tried again after 5 s, and status is
# asked every 2 s, so all four demo numbers reach their end within a minute. A value set wins.
DEMO_DEFAULTS: dict[str, Any] = {"retry_delay_seconds": 5.0, "poll_seconds": 2.0}


def setting(default: Any, rule: rules.Rule | None = None) -> Any:
    """A setting's default and the rule its value must pass."""
    return field(default=default, metadata={"rule": rule})


def secret(default: str = "") -> Any:
    """A secret setting: never printed, and it may also come from FAXBRIDGE_<NAME>_FILE or a credential."""
    return field(default=default, repr=False, metadata={"secret": True})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every FAXBRIDGE_* setting (README, "Configuration"), typed and checked. Build with `Settings.load()`.

    A setting is one line here: its type, its default and, through `setting()`, the rule its value
    must pass (and whether it is a secret, which may then also come from a file).
    """

    data_dir: Path = setting(Path("var"), rules.NOT_EMPTY)
    database_url: str = setting("", rules.DATABASE_URL)
    smtp_host: str = setting("127.0.0.1", rules.HOST_OR_ANY)
    smtp_port: int = setting(2525, rules.LISTEN_PORT)
    fax_domain: str = setting("fax.localhost", rules.DOMAIN)
    default_region: str = setting("US", rules.REGION)
    allowed_senders: tuple[str, ...] = setting((), rules.SENDER_ENTRY)
    allowed_countries: tuple[str, ...] = setting((), rules.REGION)
    retry_attempts: int = setting(3, rules.COUNT)
    retry_delay_seconds: float = setting(300.0, rules.NOT_NEGATIVE)  # 0: at once
    poll_seconds: float = setting(10.0, rules.POSITIVE)
    retention_days: float = setting(7.0, rules.POSITIVE)
    max_message_bytes: int = setting(57_671_680, rules.POSITIVE_COUNT)
    http_host: str = setting("127.0.0.1", rules.HOST_OR_ANY)
    http_port: int = setting(8080, rules.LISTEN_PORT)
    provider: str = setting("sandbox", rules.one_of("ringcentral", "sandbox"))
    ringcentral_server_url: str = setting("https://platform.ringcentral.com", rules.HTTPS_URL)
    ringcentral_client_id: str = ""
    ringcentral_client_secret: str = secret()
    ringcentral_jwt: str = secret()
    ringcentral_webhook_url: str = setting("", rules.WEBHOOK_URL)
    cover: str = setting("generated", rules.COVER)
    reply_from: str = setting("", rules.ADDRESS)
    smtp_relay_host: str = setting("", rules.HOST_OR_EMPTY)
    smtp_relay_port: int = setting(587, rules.PORT)
    smtp_relay_username: str = ""
    smtp_relay_password: str = secret()
    smtp_relay_starttls: str = setting("auto", rules.RELAY_STARTTLS)
    slack_bot_token: str = secret()
    slack_signing_secret: str = secret()
    slack_app_token: str = secret()
    slack_api_url: str = setting("https://slack.com/api/", rules.HTTPS_URL)
    slack_file_hosts: tuple[str, ...] = setting(("files.slack.com",), rules.HOST_PORT)
    slack_command: str = setting("/fax", rules.SLACK_COMMAND)
    slack_allowed_users: tuple[str, ...] = setting((), rules.SLACK_ID)
    slack_allowed_channels: tuple[str, ...] = setting((), rules.SLACK_ID)
    smtp_tls_cert: str = ""
    smtp_tls_key: str = ""
    smtp_auth_username: str = ""
    smtp_auth_password: str = secret()
    # empty: `dkim`, or `none` in demo mode (see `sender_auth_mode`)
    sender_auth: str = setting("", rules.SENDER_AUTH)
    authserv_id: str = ""
    log_format: str = setting("text", rules.one_of(*FORMATS))
    log_level: str = setting("INFO", rules.Rule("one of " + ", ".join(LEVELS), lambda v: v.upper() in LEVELS))
    # Tunables beyond the public contract, for tests and unusual deployments.
    sandbox_delay_seconds: float = setting(2.0, rules.POSITIVE)
    submit_timeout_seconds: float = setting(120.0, rules.POSITIVE)
    provider_timeout_seconds: float = setting(60.0, rules.POSITIVE)
    sent_settle_seconds: float = setting(3600.0, rules.POSITIVE)
    reply_retry_seconds: float = setting(30.0, rules.POSITIVE)
    unknown_fate_seconds: float = setting(86400.0, rules.POSITIVE)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, *, config: Path | None = None) -> Settings:
        """Read settings: the TOML file (`config`, else FAXBRIDGE_CONFIG, else the system file when
        present), then the environment, secret files and systemd credentials. Any mistake is a
        ConfigError in one line that names where the value came from and what is allowed."""
        import os

        given = gather(secret_names(), os.environ if environ is None else environ, config=config)
        return cls._build(given)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        """Build settings from plain values keyed by setting name (strings are converted and checked)."""
        unknown = sorted(set(raw) - set(secret_names()))
        if unknown:
            raise ConfigError("unknown settings: " + ", ".join(unknown))
        return cls._build({k: Given(v, env_name(k)) for k, v in raw.items()})

    @classmethod
    def _build(cls, given: Mapping[str, Given]) -> Settings:
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in given:
                values[f.name] = _typed(given[f.name], hints[f.name], f)
        if values.get("provider", cls.provider) == "sandbox":
            values = {**DEMO_DEFAULTS, **values}
        return cls(**values).validated()

    def validated(self) -> Settings:
        """Check what no single value can show: settings that only work together."""
        for f in dataclasses.fields(self):
            _check(getattr(self, f.name), f, Given(getattr(self, f.name), env_name(f.name)))
        if self.sender_auth_mode == "mta" and not self.authserv_id:
            raise ConfigError(
                "FAXBRIDGE_SENDER_AUTH=mta needs FAXBRIDGE_AUTHSERV_ID: the authserv-id of your MTA's "
                "Authentication-Results header (often its host name)"
            )
        if self.provider == "ringcentral":
            missing = [
                PREFIX + name.upper()
                for name in ("ringcentral_client_id", "ringcentral_client_secret", "ringcentral_jwt")
                if not getattr(self, name)
            ]
            if missing:
                raise ConfigError("FAXBRIDGE_PROVIDER=ringcentral needs " + ", ".join(missing))
        problem = self.plaintext_auth_problem()
        if problem:
            raise ConfigError(problem)
        return self

    @property
    def demo(self) -> bool:
        """Demo mode: the built-in stand-in instead of RingCentral, so no real fax is sent."""
        return self.provider == "sandbox"

    @property
    def sender_auth_mode(self) -> str:
        """How email senders are authenticated: `dkim`, `mta` or `none` (the default in demo mode)."""
        return self.sender_auth or ("none" if self.demo else "dkim")

    def plaintext_auth_problem(self) -> str | None:
        """Why the intake must not start: SMTP AUTH reachable from the network with no TLS to protect it."""
        if not self.smtp_auth_username or (self.smtp_tls_cert and self.smtp_tls_key):
            return None
        if is_loopback(self.smtp_host):
            return None  # the password never leaves this host (a local TLS proxy may sit in front)
        return (
            f"FAXBRIDGE_SMTP_AUTH_USERNAME is set but the intake on {self.smtp_host or 'every address'} "
            "has no certificate: passwords would cross the network in clear; set FAXBRIDGE_SMTP_TLS_CERT "
            "and _KEY, or listen on 127.0.0.1"
        )

    @property
    def database_path(self) -> Path:
        url = self.database_url or f"sqlite:///{self.data_dir / 'faxbridge.db'}"
        if not url.startswith("sqlite:///"):
            raise ConfigError(f"only sqlite:/// database URLs are supported, not {url.split(':')[0]}")
        return Path(url.removeprefix("sqlite:///"))

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def incoming_dir(self) -> Path:
        """Where intakes keep a request's files until the store takes them (inside the spool)."""
        from bridge.spooling import scratch_root

        return scratch_root(self.spool_dir)

    @property
    def countries(self) -> tuple[str, ...]:
        """ISO codes that may be dialled: the allowlist, or the default region's country."""
        return self.allowed_countries or (self.default_region,)

    @property
    def relay_starttls(self) -> bool | None:
        """STARTTLS to the reply relay: required (True), never (False), or when offered (None).

        `auto` requires it once a relay password is set: a password never crosses in the clear.
        """
        chosen = RELAY_STARTTLS[self.smtp_relay_starttls.lower()]
        if chosen is None and self.smtp_relay_password:
            return True
        return chosen

    @property
    def reply_sender(self) -> str:
        return self.reply_from or f"fax@{self.fax_domain}"

    @property
    def provider_cover_index(self) -> int | None:
        return int(self.cover.split(":", 1)[1]) if rules.is_provider_cover(self.cover) else None

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with every secret replaced, safe to print or log."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes).validated()


def secret_names() -> dict[str, bool]:
    """Every setting's name, and whether it is a secret."""
    return {f.name: bool(f.metadata.get("secret")) for f in dataclasses.fields(Settings)}


def _typed(given: Given, kind: Any, f: dataclasses.Field[Any]) -> Any:
    """The value as the setting's type, checked against its rule; else a one-line ConfigError."""
    secret = bool(f.metadata.get("secret"))
    # A secret is used exactly as given (a file loses only its final newline); other text is trimmed.
    value = given.value if secret and isinstance(given.value, str) else _convert(given.value, kind)
    if value is None:
        rule: rules.Rule | None = f.metadata.get("rule")
        allowed = rule.allowed if rule is not None and kind not in (tuple[str, ...],) else _KIND_WORDS[kind]
        raise ConfigError(f"{given.named(secret)}: must be {allowed}")
    _check(value, f, given)
    return value


def _check(value: Any, f: dataclasses.Field[Any], given: Given) -> None:
    rule: rules.Rule | None = f.metadata.get("rule")
    if rule is None:
        return
    named = given.named(bool(f.metadata.get("secret")))
    if isinstance(value, tuple):
        for item in value:
            if not rule.ok(item):
                raise ConfigError(f"{named}: each entry must be {rule.allowed}; {item!r} is not")
    elif not rule.ok(value):
        raise ConfigError(f"{named}: must be {rule.allowed}")


_KIND_WORDS: dict[Any, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "text",
    Path: "a path",
    tuple[str, ...]: "a comma-separated list (or a TOML list of strings)",
}


def _convert(value: Any, kind: Any) -> Any:
    """`value` (a string from the environment or a TOML value) as `kind`, or None when it is not one."""
    if isinstance(value, str) and kind is not str:
        value = value.strip()
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, bool):
        return None  # TOML's true/false is no number, path or text
    if kind is int:
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, str) and _is_int(value) else None
    if kind is float:
        if isinstance(value, int | float):
            return float(value)
        try:
            number = float(value) if isinstance(value, str) else None
        except ValueError:
            return None
        return number if number is not None and number == number and abs(number) != float("inf") else None
    if kind == tuple[str, ...]:
        items = (
            value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else None
        )
        if items is None or not all(isinstance(i, str) for i in items):
            return None
        return tuple(i.strip() for i in items if i.strip())
    if kind is Path:
        return Path(value) if isinstance(value, str | Path) and str(value) else None
    if isinstance(value, str):
        return value.strip()
    return None


def _is_int(text: str) -> bool:
    return text.removeprefix("-").isdigit()
