"""Settings from FAXBRIDGE_* environment variables and an optional TOML file (environment wins)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from bridge.errors import ConfigError
from bridge.hosts import HostList
from bridge.logs import FORMATS, LEVELS
from bridge.routing import Routes

PREFIX = "FAXBRIDGE_"
# FAXBRIDGE_SMTP_RELAY_STARTTLS: `auto`, or a yes/no (older files said true/false).
RELAY_STARTTLS: dict[str, bool | None] = {
    "auto": None,
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}
SECRET_FIELDS = frozenset(
    {
        "ringcentral_client_secret",
        "ringcentral_jwt",
        "smtp_relay_password",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "smtp_auth_password",
    }
)

SENDER_AUTH_MODES = ("dkim", "mta", "none")
INBOUND_ATTACH_MODES = ("pdf", "none")
# Demo mode waits seconds, not minutes: a busy demo number is tried again after 5 s, and status is
# asked every 2 s, so all four demo numbers reach their end within a minute. A value set wins.
DEMO_DEFAULTS: dict[str, Any] = {"retry_delay_seconds": 5.0, "poll_seconds": 2.0}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every FAXBRIDGE_* setting (README, "Configuration"), typed. Build with `Settings.load()`."""

    data_dir: Path = Path("var")
    database_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    fax_domain: str = "fax.localhost"
    default_region: str = "US"
    allowed_senders: tuple[str, ...] = ()
    allowed_countries: tuple[str, ...] = ()
    retry_attempts: int = 3
    retry_delay_seconds: float = 300.0
    poll_seconds: float = 10.0
    retention_days: float = 7.0
    max_message_bytes: int = 57_671_680
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    provider: str = "sandbox"
    ringcentral_server_url: str = "https://platform.ringcentral.com"
    ringcentral_client_id: str = ""
    ringcentral_client_secret: str = field(default="", repr=False)
    ringcentral_jwt: str = field(default="", repr=False)
    ringcentral_webhook_url: str = ""
    cover: str = "generated"
    reply_from: str = ""
    smtp_relay_host: str = ""
    smtp_relay_port: int = 587
    smtp_relay_username: str = ""
    smtp_relay_password: str = field(default="", repr=False)
    smtp_relay_starttls: str = "auto"
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_api_url: str = "https://slack.com/api/"
    slack_file_hosts: tuple[str, ...] = ("files.slack.com",)
    slack_command: str = "/fax"
    slack_allowed_users: tuple[str, ...] = ()
    slack_allowed_channels: tuple[str, ...] = ()
    fetch_allowed_hosts: tuple[str, ...] = ()
    fetch_timeout_seconds: float = 120.0
    smtp_tls_cert: str = ""
    smtp_tls_key: str = ""
    smtp_auth_username: str = ""
    smtp_auth_password: str = field(default="", repr=False)
    sender_auth: str = ""  # empty: `dkim`, or `none` in demo mode (see `sender_auth_mode`)
    authserv_id: str = ""
    log_format: str = "text"
    log_level: str = "INFO"
    inbound_routes: Routes = field(default_factory=Routes)
    inbound_reply_days: float = 14.0
    inbound_attach: str = "pdf"
    inbound_preview: bool = True
    # Tunables beyond the public contract, for tests and unusual deployments.
    sandbox_delay_seconds: float = 2.0
    submit_timeout_seconds: float = 120.0
    provider_timeout_seconds: float = 60.0
    sent_settle_seconds: float = 3600.0
    reply_retry_seconds: float = 30.0
    unknown_fate_seconds: float = 86400.0

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings: TOML file named by FAXBRIDGE_CONFIG first, then the environment."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        config_file = env.get(PREFIX + "CONFIG")
        if config_file:
            raw.update(_read_toml(Path(config_file)))
        for key, value in env.items():
            if key.startswith(PREFIX) and key != PREFIX + "CONFIG":
                raw[key[len(PREFIX) :].lower()] = value
        return cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        """Build settings from plain values (strings are converted to each field's type)."""
        hints = get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in names:
                continue
            values[key] = _convert(key, hints[key], value)
        if values.get("provider", cls.provider) == "sandbox":
            values = {**DEMO_DEFAULTS, **values}
        return cls(**values).validated()

    def validated(self) -> Settings:
        """Check values that no type can express."""
        if self.cover not in ("generated", "none") and not _is_provider_cover(self.cover):
            raise ConfigError(
                f"FAXBRIDGE_COVER must be 'generated', 'none' or 'provider:N', not {self.cover!r}"
            )
        if self.provider not in ("sandbox", "ringcentral"):
            raise ConfigError(f"FAXBRIDGE_PROVIDER must be 'ringcentral' or 'sandbox', not {self.provider!r}")
        if self.smtp_relay_starttls.lower() not in RELAY_STARTTLS:
            raise ConfigError(
                "FAXBRIDGE_SMTP_RELAY_STARTTLS must be 'auto', 'true' or 'false',"
                f" not {self.smtp_relay_starttls!r}"
            )
        if self.inbound_attach not in INBOUND_ATTACH_MODES:
            raise ConfigError(
                f"FAXBRIDGE_INBOUND_ATTACH must be 'pdf' or 'none', not {self.inbound_attach!r}"
            )
        if self.inbound_reply_days < 0:
            raise ConfigError("FAXBRIDGE_INBOUND_REPLY_DAYS must be 0 (off) or more")
        if self.log_format not in FORMATS:
            raise ConfigError(f"FAXBRIDGE_LOG_FORMAT must be 'text' or 'json', not {self.log_format!r}")
        if self.log_level.upper() not in LEVELS:
            raise ConfigError(
                f"FAXBRIDGE_LOG_LEVEL must be one of {', '.join(LEVELS)}, not {self.log_level!r}"
            )
        if self.sender_auth not in ("", *SENDER_AUTH_MODES):
            raise ConfigError(
                f"FAXBRIDGE_SENDER_AUTH must be one of {', '.join(SENDER_AUTH_MODES)}, not {self.sender_auth!r}"
            )
        if self.sender_auth_mode == "mta" and not self.authserv_id:
            raise ConfigError(
                "FAXBRIDGE_SENDER_AUTH=mta needs FAXBRIDGE_AUTHSERV_ID: the authserv-id of your MTA's "
                "Authentication-Results header (often its host name)"
            )
        for name in ("slack_file_hosts", "fetch_allowed_hosts"):
            try:
                HostList.parse(getattr(self, name))
            except ValueError as exc:
                raise ConfigError(f"{PREFIX}{name.upper()}: {exc}") from exc
        if self.fetch_timeout_seconds <= 0:
            raise ConfigError("FAXBRIDGE_FETCH_TIMEOUT_SECONDS must be more than 0")
        if self.provider == "ringcentral":
            missing = [
                PREFIX + name.upper()
                for name in ("ringcentral_client_id", "ringcentral_client_secret", "ringcentral_jwt")
                if not getattr(self, name)
            ]
            if missing:
                raise ConfigError("FAXBRIDGE_PROVIDER=ringcentral needs " + ", ".join(missing))
        return self

    @property
    def demo(self) -> bool:
        """Demo mode: the built-in stand-in instead of RingCentral, so no real fax is sent."""
        return self.provider == "sandbox"

    @property
    def receiving(self) -> bool:
        """Whether received faxes are fetched: routes are set, or the demo shows them in `inbox` and the log."""
        return bool(self.inbound_routes) or self.demo

    @property
    def sender_auth_mode(self) -> str:
        """How email senders are authenticated: `dkim`, `mta` or `none` (the default in demo mode)."""
        return self.sender_auth or ("none" if self.demo else "dkim")

    def plaintext_auth_problem(self) -> str | None:
        """Why the intake must not start: SMTP AUTH reachable from the network with no TLS to protect it."""
        if not self.smtp_auth_username or (self.smtp_tls_cert and self.smtp_tls_key):
            return None
        if _is_loopback(self.smtp_host):
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
    def fetch_hosts(self) -> HostList:
        """Hosts a document link may reach though they are private, or over plain http."""
        return HostList.parse(self.fetch_allowed_hosts)

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
        return int(self.cover.split(":", 1)[1]) if _is_provider_cover(self.cover) else None

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with every secret replaced, safe to print or log."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path | Routes) else value
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes).validated()


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any address


def _is_provider_cover(value: str) -> bool:
    prefix, _, number = value.partition(":")
    return prefix == "provider" and number.isdigit()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read FAXBRIDGE_CONFIG {path}: {exc}") from exc
    # Accept both `data_dir = ...` and `FAXBRIDGE_DATA_DIR = ...`, optionally under [faxbridge].
    section = data.get("faxbridge", data)
    return {k.lower().removeprefix(PREFIX.lower()): v for k, v in section.items()}


def _convert(name: str, kind: Any, value: Any) -> Any:
    env_name = PREFIX + name.upper()
    try:
        if kind is Path:
            return Path(value)
        if kind is Routes:
            return Routes.parse(value)
        if kind is bool:
            return value if isinstance(value, bool) else _parse_bool(str(value))
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        if kind == tuple[str, ...]:
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            return tuple(s.strip() for s in items if str(s).strip())
        return str(value).strip()
    except ValueError as exc:
        raise ConfigError(f"{env_name} has an unusable value: {exc}") from exc


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a yes/no value")
