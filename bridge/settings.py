"""Settings from FAXBRIDGE_* environment variables, secret files and an optional TOML file (environment wins).

Settings are composed of typed sections, one per part that reads them (core, store, smtp, relay,
slack, ringcentral, fetch, http, log); each component is given only its own section(s). A setting is one
line in its section: its type, default and rule. Its name is the section's prefix and the field's
name (`smtp` + `port` is FAXBRIDGE_SMTP_PORT), or the `name` given where that would not fit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

from bridge import setting_rules as rules
from bridge.errors import ConfigError
from bridge.hosts import HostList, is_loopback
from bridge.logs import FORMATS, LEVELS
from bridge.routing import Routes
from bridge.setting_sources import PREFIX, Given, config_file, env_name, gather
from bridge.setting_values import secret, setting, shared, typed

# Demo mode waits seconds, not minutes: a busy demo number is tried again after 5 s, and status is
# asked every 2 s, so all four demo numbers reach their end within a minute. A value set wins.
DEMO_DEFAULTS: dict[str, Any] = {"retry_delay_seconds": 5.0, "poll_seconds": 2.0}


@dataclass(frozen=True, kw_only=True)
class CoreSettings:
    """What the core decides with: numbers, senders, covers, retries, timings, retention."""

    prefix: ClassVar[str] = ""
    default_region: str = setting("US", rules.REGION)
    allowed_countries: tuple[str, ...] = setting((), rules.REGION)
    allowed_senders: tuple[str, ...] = setting((), rules.SENDER_ENTRY)
    retry_attempts: int = setting(3, rules.COUNT)
    retry_delay_seconds: float = setting(300.0, rules.NOT_NEGATIVE)  # 0: at once
    poll_seconds: float = setting(10.0, rules.POSITIVE)
    retention_days: float = setting(7.0, rules.POSITIVE)
    cover: str = setting("generated", rules.COVER)
    # Tunables beyond the public contract, for tests and unusual deployments.
    submit_timeout_seconds: float = setting(120.0, rules.POSITIVE)
    sent_settle_seconds: float = setting(3600.0, rules.POSITIVE)
    reply_retry_seconds: float = setting(30.0, rules.POSITIVE)
    unknown_fate_seconds: float = setting(86400.0, rules.POSITIVE)
    demo: bool = shared(False, "demo")

    @property
    def countries(self) -> tuple[str, ...]:
        """ISO codes that may be dialled: the allowlist, or the default region's country."""
        return self.allowed_countries or (self.default_region,)

    @property
    def provider_cover_index(self) -> int | None:
        return int(self.cover.split(":", 1)[1]) if rules.is_provider_cover(self.cover) else None


@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """Where the job store and the document spool live."""

    prefix: ClassVar[str] = ""
    data_dir: Path = setting(Path("var"), rules.NOT_EMPTY)
    database_url: str = setting("", rules.DATABASE_URL)

    @property
    def uses_postgres(self) -> bool:
        """Whether the jobs live in PostgreSQL (shared by several bridges) rather than SQLite."""
        return self.database_url.startswith(rules.POSTGRES_SCHEMES)

    @property
    def database_path(self) -> Path:
        """The SQLite database file (also where `serve` keeps its lock when jobs live in PostgreSQL)."""
        if self.uses_postgres:
            return self.data_dir / "faxbridge.db"
        url = self.database_url or f"sqlite:///{self.data_dir / 'faxbridge.db'}"
        return Path(url.removeprefix("sqlite:///"))

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def incoming_dir(self) -> Path:
        """Where intakes keep a request's files until the store takes them (inside the spool)."""
        from bridge.spooling import scratch_root

        return scratch_root(self.spool_dir)


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """The SMTP intake: its listener, TLS and AUTH, and how senders are authenticated."""

    prefix: ClassVar[str] = "smtp_"
    host: str = setting("127.0.0.1", rules.HOST_OR_ANY)
    port: int = setting(2525, rules.LISTEN_PORT)
    fax_domain: str = setting("fax.localhost", rules.DOMAIN, name="fax_domain")
    max_message_bytes: int = setting(57_671_680, rules.POSITIVE_COUNT, name="max_message_bytes")
    tls_cert: str = ""
    tls_key: str = ""
    auth_username: str = ""
    auth_password: str = secret()
    # empty: `dkim`, or `none` in demo mode (see `sender_auth_mode`)
    sender_auth: str = setting("", rules.SENDER_AUTH, name="sender_auth")
    authserv_id: str = setting("", name="authserv_id")
    allowed_senders: tuple[str, ...] = shared((), "allowed_senders")
    demo: bool = shared(False, "demo")

    @property
    def sender_auth_mode(self) -> str:
        """How email senders are authenticated: `dkim`, `mta` or `none` (the default in demo mode)."""
        return self.sender_auth or ("none" if self.demo else "dkim")

    def plaintext_auth_problem(self) -> str | None:
        """Why the intake must not start: SMTP AUTH reachable from the network with no TLS to protect it."""
        if not self.auth_username or (self.tls_cert and self.tls_key):
            return None
        if is_loopback(self.host):
            return None  # the password never leaves this host (a local TLS proxy may sit in front)
        return (
            f"FAXBRIDGE_SMTP_AUTH_USERNAME is set but the intake on {self.host or 'every address'} "
            "has no certificate: passwords would cross the network in clear; set FAXBRIDGE_SMTP_TLS_CERT "
            "and _KEY, or listen on 127.0.0.1"
        )

    def problem(self) -> str | None:
        if self.sender_auth_mode == "mta" and not self.authserv_id:
            return (
                "FAXBRIDGE_SENDER_AUTH=mta needs FAXBRIDGE_AUTHSERV_ID: the authserv-id of your MTA's "
                "Authentication-Results header (often its host name)"
            )
        return self.plaintext_auth_problem()


@dataclass(frozen=True, kw_only=True)
class RelaySettings:
    """The relay that status mails go out through, and their From."""

    prefix: ClassVar[str] = "smtp_relay_"
    host: str = setting("", rules.HOST_OR_EMPTY)
    port: int = setting(587, rules.PORT)
    username: str = ""
    password: str = secret()
    starttls: str = setting("auto", rules.RELAY_STARTTLS)
    reply_from: str = setting("", rules.ADDRESS, name="reply_from")
    fax_domain: str = shared("fax.localhost", "fax_domain")

    @property
    def relay_starttls(self) -> bool | None:
        """STARTTLS to the reply relay: required (True), never (False), or when offered (None).

        `auto` requires it once a relay password is set: a password never crosses in the clear.
        """
        chosen = rules.RELAY_STARTTLS_CHOICES[self.starttls.lower()]
        if chosen is None and self.password:
            return True
        return chosen

    @property
    def reply_sender(self) -> str:
        return self.reply_from or f"fax@{self.fax_domain}"


@dataclass(frozen=True, kw_only=True)
class SlackSettings:
    """The Slack app: tokens, the Web API, the slash command and who may fax."""

    prefix: ClassVar[str] = "slack_"
    bot_token: str = secret()
    signing_secret: str = secret()
    app_token: str = secret()
    api_url: str = setting("https://slack.com/api/", rules.HTTPS_URL)
    file_hosts: tuple[str, ...] = setting(("files.slack.com",), rules.HOST_PORT)
    command: str = setting("/fax", rules.SLACK_COMMAND)
    allowed_users: tuple[str, ...] = setting((), rules.SLACK_ID)
    allowed_channels: tuple[str, ...] = setting((), rules.SLACK_ID)


@dataclass(frozen=True, kw_only=True)
class RingCentralSettings:
    """The fax provider: RingCentral and its credentials, or the built-in stand-in (demo mode)."""

    prefix: ClassVar[str] = "ringcentral_"
    provider: str = setting("sandbox", rules.one_of("ringcentral", "sandbox"), name="provider")
    server_url: str = setting("https://platform.ringcentral.com", rules.HTTPS_URL)
    client_id: str = ""
    client_secret: str = secret()
    jwt: str = secret()
    webhook_url: str = setting("", rules.WEBHOOK_URL)
    provider_timeout_seconds: float = setting(60.0, rules.POSITIVE, name="provider_timeout_seconds")
    sandbox_delay_seconds: float = setting(2.0, rules.POSITIVE, name="sandbox_delay_seconds")

    @property
    def demo(self) -> bool:
        """Demo mode: the built-in stand-in instead of RingCentral, so no real fax is sent."""
        return self.provider == "sandbox"

    def problem(self) -> str | None:
        if self.demo:
            return None
        missing = [
            f"{PREFIX}RINGCENTRAL_{name}"
            for name, value in (
                ("CLIENT_ID", self.client_id),
                ("CLIENT_SECRET", self.client_secret),
                ("JWT", self.jwt),
            )
            if not value
        ]
        return "FAXBRIDGE_PROVIDER=ringcentral needs " + ", ".join(missing) if missing else None


@dataclass(frozen=True, kw_only=True)
class FetchSettings:
    """Documents by link: which private or plain-http hosts they may come from, and how long a download may take."""

    prefix: ClassVar[str] = "fetch_"
    allowed_hosts: tuple[str, ...] = setting((), rules.HOST_PORT)
    timeout_seconds: float = setting(120.0, rules.POSITIVE)

    @property
    def hosts(self) -> HostList:
        """Hosts a document link may reach though they are private, or over plain http."""
        return HostList.parse(self.allowed_hosts)


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """The HTTP listener: Slack, the RingCentral webhook, /healthz, /metrics."""

    prefix: ClassVar[str] = "http_"
    host: str = setting("127.0.0.1", rules.HOST_OR_ANY)
    port: int = setting(8080, rules.LISTEN_PORT)


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    """How log lines look and how many there are."""

    prefix: ClassVar[str] = "log_"
    format: str = setting("text", rules.one_of(*FORMATS))
    level: str = setting("INFO", rules.Rule("one of " + ", ".join(LEVELS), lambda v: v.upper() in LEVELS))


@dataclass(frozen=True, kw_only=True)
class InboundSettings:
    """Received faxes: where each number's faxes go, replies coming home, what a delivery carries."""

    prefix: ClassVar[str] = "inbound_"
    routes: Routes = setting(Routes())
    reply_days: float = setting(14.0, rules.NOT_NEGATIVE)  # 0: replies do not come home
    attach: str = setting("pdf", rules.one_of("pdf", "none"))
    preview: bool = setting(True)
    demo: bool = shared(False, "demo")

    @property
    def receiving(self) -> bool:
        """Whether received faxes are fetched: routes are set, or the demo shows them in `inbox` and the log."""
        return bool(self.routes) or self.demo


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every FAXBRIDGE_* setting (README, "Configuration"), typed and checked, in sections. Build with
    `Settings.load()`; hand each component its section."""

    core: CoreSettings = field(default_factory=CoreSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    ringcentral: RingCentralSettings = field(default_factory=RingCentralSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    log: LogSettings = field(default_factory=LogSettings)
    inbound: InboundSettings = field(default_factory=InboundSettings)
    # Not a setting: which TOML file was read, if any (`faxbridge check` says so).
    config_file: Path | None = None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, *, config: Path | None = None) -> Settings:
        """Read settings: the TOML file (`config`, else FAXBRIDGE_CONFIG, else the system file when
        present), then the environment, secret files and systemd credentials. Any mistake is a
        ConfigError in one line that names where the value came from and what is allowed."""
        import os

        env = os.environ if environ is None else environ
        settings = _build(gather(setting_names(), env, config=config))
        return dataclasses.replace(settings, config_file=config_file(env, config))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        """Build settings from plain values keyed by setting name (strings are converted and checked)."""
        unknown = sorted(set(raw) - set(setting_names()))
        if unknown:
            raise ConfigError("unknown settings: " + ", ".join(unknown))
        return _build({k: Given(v, env_name(k)) for k, v in raw.items()})

    @property
    def demo(self) -> bool:
        """Demo mode: the built-in stand-in instead of RingCentral, so no real fax is sent."""
        return self.ringcentral.demo

    def values(self) -> dict[str, Any]:
        """Every setting by its name (`smtp_port`), as typed."""
        return {name: getattr(getattr(self, where.section), where.field) for name, where in _index().items()}

    def redacted(self) -> dict[str, Any]:
        """Settings by name with every secret replaced, safe to print or log."""
        out: dict[str, Any] = {}
        for name, value in self.values().items():
            if _index()[name].secret and value:
                value = "***"
            out[name] = str(value) if isinstance(value, Path | Routes) else value
        return out

    def replace(self, **changes: Any) -> Settings:
        """These settings with some changed, by setting name (`smtp_relay_host=...`), checked again."""
        merged = {**self.values(), **changes}
        return dataclasses.replace(Settings.from_mapping(merged), config_file=self.config_file)


@dataclass(frozen=True)
class _Where:
    section: str
    field: str
    kind: Any
    spec: dataclasses.Field[Any]

    @property
    def secret(self) -> bool:
        return bool(self.spec.metadata.get("secret"))


@functools.cache
def _index() -> dict[str, _Where]:
    """Every setting's name, and where it lives: its section, field, type and declaration."""
    found: dict[str, _Where] = {}
    for part, section in _sections():
        hints = get_type_hints(section)
        for f in dataclasses.fields(section):
            if "shared" in f.metadata:
                continue
            name = f.metadata.get("name") or section.prefix + f.name
            found[name] = _Where(part.name, f.name, hints[f.name], f)
    return found


def _sections() -> list[tuple[dataclasses.Field[Any], Any]]:
    """The fields of Settings that are sections, with their classes."""
    hints = get_type_hints(Settings)
    return [(f, hints[f.name]) for f in dataclasses.fields(Settings) if dataclasses.is_dataclass(hints[f.name])]


def setting_names() -> dict[str, bool]:
    """Every setting's name, and whether it is a secret."""
    return {name: where.secret for name, where in _index().items()}


def _build(given: Mapping[str, Given]) -> Settings:
    values = {
        name: typed(given[name], where.kind, where.spec) for name, where in _index().items() if name in given
    }
    if values.get("provider", "sandbox") == "sandbox":
        values = {**DEMO_DEFAULTS, **values}
    everything = {name: values.get(name, where.spec.default) for name, where in _index().items()}
    everything["demo"] = everything["provider"] == "sandbox"
    parts: dict[str, Any] = {}
    for part, section in _sections():
        kwargs = {w.field: values[n] for n, w in _index().items() if w.section == part.name and n in values}
        for f in dataclasses.fields(section):
            if "shared" in f.metadata:
                kwargs[f.name] = everything[f.metadata["shared"]]
        parts[part.name] = section(**kwargs)
    return _validated(Settings(**parts))


def _validated(settings: Settings) -> Settings:
    """Check what no single value can show: settings that only work together (each value was checked
    as it was read)."""
    for problem in (settings.smtp.problem(), settings.ringcentral.problem()):
        if problem:
            raise ConfigError(problem)
    return settings
