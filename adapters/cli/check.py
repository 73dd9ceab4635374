"""`faxbridge check`: validate the settings and reach every configured service, saying how to fix what fails."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Awaitable, Callable

from adapters.cli.binding import bind_problems, listeners
from adapters.cli.lock import ServeLock
from adapters.cli.stores import store_open
from adapters.email.check import check_relay
from adapters.postgres import PostgresJobStore
from adapters.ringcentral.client import RingCentralProvider
from adapters.slack.check import check_slack
from bridge.errors import BridgeError, ProviderPermanent
from bridge.findings import Finding, Level
from bridge.metrics import Metrics
from bridge.privacy import too_open
from bridge.senders import SenderPolicy
from bridge.settings import Settings
from bridge.wording import plural

RINGCENTRAL_PERMISSIONS = ("Faxes", "ReadMessages")
MIN_FREE_BYTES = 1 << 30  # below this, a few large faxes could fill the disk


Check = Callable[[Settings], Awaitable[list[Finding]]]


async def run_checks(settings: Settings) -> list[Finding]:
    findings = [_settings_source(settings)]
    # Each adapter's check is given its own section, as the adapter itself is.
    checks: tuple[tuple[str, Check], ...] = (
        ("data_dir", check_data_dir),
        ("ports", check_ports),
        ("store", check_store),
        ("intake", check_intake),
        ("provider", check_provider),
        ("slack", lambda s: check_slack(s.slack, receiving=s.inbound.receiving)),
        ("relay", lambda s: check_relay(s.relay)),
    )
    for part, check in checks:
        try:
            findings.extend(await check(settings))
        except Exception as exc:
            findings.append(Finding(part=part, level=Level.ERROR, message=str(exc)))
    return findings


def _settings_source(settings: Settings) -> Finding:
    """Which configuration this is: what every other command on the host reads too."""
    where = (
        f"{settings.config_file.resolve()} and the FAXBRIDGE_* variables"
        if settings.config_file
        else "the FAXBRIDGE_* variables and defaults (no config file)"
    )
    return Finding(part="settings", level=Level.OK, message=f"read from {where}")


async def check_data_dir(settings: Settings) -> list[Finding]:
    path = settings.store.data_dir
    part = "data directory"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".check-") as probe:
            probe.write(b"faxbridge")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return [
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"{path} is not writable: {exc.strerror}",
                fix=f"create it and give the faxbridge user write access (chown faxbridge {path})",
            )
        ]
    found = [Finding(part=part, level=Level.OK, message=f"{path.resolve()} is writable")]
    wide = too_open(path)
    if wide:
        first, mode = wide[0]
        found.append(
            Finding(
                part=part,
                level=Level.WARNING,
                message=f"{len(wide)} entries in {path} are open to other users (e.g. {first}, mode {mode:04o});"
                " it holds the documents people fax",
                fix=f"`faxbridge serve` makes them private at start; or run: chmod -R go= {path}",
            )
        )
    free = shutil.disk_usage(path).free
    level = Level.OK if free >= MIN_FREE_BYTES else Level.WARNING
    found.append(
        Finding(
            part=part,
            level=level,
            message=f"{free / (1 << 30):.1f} GiB free",
            fix=""
            if level is Level.OK
            else "free some space: intake answers 451 (try later) when the disk is full",
        )
    )
    return found


async def check_ports(settings: Settings) -> list[Finding]:
    """Bind the SMTP and HTTP addresses (and let them go), unless this data directory's serve holds them."""
    part = "ports"
    if ServeLock(settings.store.data_dir).held_by_other():
        return [
            Finding(
                part=part,
                level=Level.OK,
                message="faxbridge serve is running on this data directory; not tried",
            )
        ]
    problems = bind_problems(settings)
    if problems:
        return [
            Finding(
                part=part,
                level=Level.ERROR,
                message=problem,
                fix="stop what listens there, or choose another port; `ss -ltnp` shows who has it",
            )
            for problem in problems
        ]
    where = ", ".join(f"{x.name} {x.where}" for x in listeners(settings))
    return [Finding(part=part, level=Level.OK, message=f"{where} free to listen on")]


# A check says what is wrong quickly; a server that does not answer within this is down for it.
CHECK_CONNECT_SECONDS = 5.0


async def check_store(settings: Settings) -> list[Finding]:
    database = settings.store.database_path
    if not settings.store.uses_postgres and not database.exists():
        # Opening it would make an empty store where no `serve` may ever look: say so, make nothing.
        return [
            Finding(
                part="job store",
                level=Level.WARNING,
                message=f"no store yet at {database.resolve()}; `serve` creates it",
                fix="if the bridge already runs, point check at its data with --config PATH or FAXBRIDGE_DATA_DIR",
            )
        ]
    try:
        async with store_open(settings, connect_timeout=CHECK_CONNECT_SECONDS) as opened:
            counts = await opened.store.counts()
            details = await opened.store.describe() if isinstance(opened.store, PostgresJobStore) else ""
    except (BridgeError, RuntimeError) as exc:
        return [
            Finding(part="job store", level=Level.ERROR, message=str(exc), fix="check FAXBRIDGE_DATABASE_URL")
        ]
    total = sum(counts.values())
    return [
        Finding(
            part="job store",
            level=Level.OK,
            message=f"{opened.where} opens{details}; {plural(total, 'job')}",
        )
    ]


async def check_intake(settings: Settings) -> list[Finding]:
    found = []
    policy = SenderPolicy(settings.core.allowed_senders, open_when_empty=settings.demo)
    if policy.empty and not settings.demo:
        found.append(
            Finding(
                part="email intake",
                level=Level.WARNING,
                message="no sender may fax by email: FAXBRIDGE_ALLOWED_SENDERS is empty",
                fix="set FAXBRIDGE_ALLOWED_SENDERS=@yourcompany.example (addresses or @domain entries)",
            )
        )
    elif policy.empty:
        found.append(
            Finding(
                part="email intake", level=Level.WARNING, message="demo mode: any sender may fax by email"
            )
        )
    else:
        found.append(
            Finding(
                part="email intake",
                level=Level.OK,
                message=f"allowed senders: {len(settings.core.allowed_senders)} (addresses and @domain entries)",
            )
        )
    found.extend(_sender_auth_findings(settings))
    if bool(settings.smtp.tls_cert) != bool(settings.smtp.tls_key):
        found.append(
            Finding(
                part="email intake",
                level=Level.ERROR,
                message="STARTTLS needs both a certificate and a key",
                fix="set both FAXBRIDGE_SMTP_TLS_CERT and FAXBRIDGE_SMTP_TLS_KEY, or neither",
            )
        )
    elif settings.smtp.tls_cert:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                settings.smtp.tls_cert, settings.smtp.tls_key
            )
            found.append(
                Finding(part="email intake", level=Level.OK, message="STARTTLS certificate and key load")
            )
        except (OSError, ssl.SSLError) as exc:
            found.append(
                Finding(
                    part="email intake",
                    level=Level.ERROR,
                    message=f"the STARTTLS certificate or key cannot be loaded: {exc}",
                    fix="point FAXBRIDGE_SMTP_TLS_CERT/_KEY at readable PEM files that belong together",
                )
            )
    return found


def _sender_auth_findings(settings: Settings) -> list[Finding]:
    mode = settings.smtp.sender_auth_mode
    if mode == "none":
        return [
            Finding(
                part="email intake",
                level=Level.WARNING,
                message="FAXBRIDGE_SENDER_AUTH=none: senders can be forged; anyone who knows an allowed "
                "address can fax as that sender",
                fix="set FAXBRIDGE_SENDER_AUTH=dkim (the bridge checks DKIM) or =mta with FAXBRIDGE_AUTHSERV_ID",
            )
        ]
    if mode == "mta":
        message = f"senders are trusted from the Authentication-Results of {settings.smtp.authserv_id} only"
    else:
        message = "senders must carry a DKIM signature aligned with their From domain (or use SMTP AUTH)"
    return [Finding(part="email intake", level=Level.OK, message=message)]


async def check_provider(settings: Settings) -> list[Finding]:
    part = "RingCentral"
    if settings.demo:
        return [
            Finding(
                part=part,
                level=Level.WARNING,
                message="demo mode: faxes go to the built-in stand-in; no real fax is sent",
                fix="set FAXBRIDGE_PROVIDER=ringcentral with the _CLIENT_ID, _CLIENT_SECRET and _JWT of your app",
            )
        ]
    provider = RingCentralProvider(
        settings.ringcentral.server_url,
        settings.ringcentral.client_id,
        settings.ringcentral.client_secret,
        settings.ringcentral.jwt,
        metrics=Metrics(),  # counted nowhere: `check` is a one-off
    )
    try:
        scope = await provider.check()
    except ProviderPermanent as exc:
        return [
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"login refused: {exc.reason}",
                fix="check FAXBRIDGE_RINGCENTRAL_CLIENT_ID, _CLIENT_SECRET and _JWT (a JWT credential of the app's user)",
            )
        ]
    except BridgeError as exc:
        return [
            Finding(
                part=part,
                level=Level.UNREACHABLE,
                message=f"{settings.ringcentral.server_url} cannot be reached: {exc.reason}",
                fix="check FAXBRIDGE_RINGCENTRAL_SERVER_URL and the network path to it",
            )
        ]
    finally:
        await provider.close()
    found = [Finding(part=part, level=Level.OK, message=f"logged in at {settings.ringcentral.server_url}")]
    missing = [p for p in RINGCENTRAL_PERMISSIONS if p not in scope]
    if missing:
        found.append(
            Finding(
                part=part,
                level=Level.ERROR,
                message=f"the app lacks the permissions {', '.join(missing)}",
                fix="add them to the app in the RingCentral Developer Console (the user also needs OutboundFaxes)",
            )
        )
    if settings.ringcentral.webhook_url and not settings.ringcentral.webhook_url.startswith("https://"):
        found.append(
            Finding(
                part=part,
                level=Level.WARNING,
                message="FAXBRIDGE_RINGCENTRAL_WEBHOOK_URL is not https; RingCentral requires TLS 1.2+",
                fix="put the bridge's HTTP port behind a TLS proxy and use its https:// URL",
            )
        )
    return found
