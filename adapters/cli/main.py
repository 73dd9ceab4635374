"""The `faxbridge` command line: serve, send, jobs, status, retry, cancel, resolve, sandbox, check, backup, migrate-store, slack-manifest."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import psycopg

from adapters.cli.binding import Listener, PortUnavailable, bind_problem
from adapters.cli.helptext import STORE_SETTINGS, HelpFormatter, add_command, version
from adapters.cli.inbox import add_commands as add_inbox_commands
from adapters.cli.lock import ServeLock
from adapters.cli.output import print_json, table
from adapters.cli.stores import store_open
from adapters.links import LinkFetcher, is_link
from bridge.errors import AmbiguousJobId, BridgeError, ConfigError, RequestRejected
from bridge.jobids import full_job_id
from bridge.logs import setup_logging
from bridge.metrics import Metrics
from bridge.model import Attachment, Channel, Cover, FaxRequest, Job, Origin
from bridge.ports import FaxProvider, JobStore, OutboundFax, ProviderStatus, ReplyTrouble
from bridge.privacy import private_umask
from bridge.service import FaxService
from bridge.settings import Settings
from bridge.spooling import Scratch
from bridge.states import JobState
from bridge.views import job_detail, job_summary
from bridge.wording import outcome, plural, succeeded

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# As a shell reports a command ended by a signal (128 + its number): Ctrl-C (SIGINT), and a reader
# that stopped reading (SIGPIPE, `faxbridge jobs | head -1`), which is how coreutils end there too.
EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 130, 141
WAIT_POLL = 0.2
CONFIG_HELP = (
    "TOML settings file (else FAXBRIDGE_CONFIG, else /etc/faxbridge/faxbridge.toml when it exists);"
    " FAXBRIDGE_* variables win over it"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.load(config=args.config)
        setup_logging(
            settings.log.format, level=settings.log.level, quiet=args.command not in ("serve", "sandbox")
        )
        # Whatever a command creates (the store, its spool, a lock) is for this user alone.
        with private_umask():
            code = int(args.run(args, settings))
        # What is still buffered meets a closed pipe here, not at exit where Python would complain.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except PortUnavailable as exc:  # names its setting already
        print(f"faxbridge: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"faxbridge: configuration problem: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except AmbiguousJobId as exc:
        print(f"faxbridge: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except RequestRejected as exc:
        print(f"faxbridge: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    except BridgeError as exc:
        print(f"faxbridge: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _pipe_closed() -> int:
    """The reader went away (`| head`): end quietly, with nothing left to flush into the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faxbridge",
        description="Send faxes from Slack, email and here, through RingCentral.",
        epilog="Run `faxbridge COMMAND --help` for a command's options, examples and settings.\n"
        "Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration,\n"
        "130 interrupted (Ctrl-C), 141 output pipe closed early (as `| head` does).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"faxbridge {version()}")
    parser.add_argument("--config", type=Path, metavar="PATH", help=CONFIG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = add_command(
        commands,
        "serve",
        summary="run the bridge: SMTP, HTTP, dispatcher, tracker",
        description="Run every configured part in one process until SIGTERM or SIGINT: the SMTP intake,\n"
        "the HTTP routes (Slack, RingCentral webhook, /healthz, /metrics), the dispatcher and the\n"
        "status tracker. With nothing configured it runs in demo mode against a built-in stand-in.\n"
        "A port in use, or a refused setting, ends it at once with one line and exit code 2.",
        examples=["faxbridge serve", "FAXBRIDGE_SMTP_PORT=2526 faxbridge serve"],
        reads=["*", "SMTP_HOST", "SMTP_PORT", "HTTP_HOST", "HTTP_PORT", "PROVIDER", "SLACK_BOT_TOKEN"],
    )
    serve.set_defaults(run=cmd_serve)

    send = add_command(
        commands,
        "send",
        summary="queue a fax from local files and https:// links",
        description="Queue one fax per number from local files and https:// links, in the order given,\n"
        "through the same checks as mail and Slack. A running `faxbridge serve` on the same data\n"
        "directory sends it. With --wait, follow it to its end (and, if no serve runs, send it\n"
        "from here); exit 0 only when it was sent. Ctrl-C stops following (exit 130); the fax\n"
        "goes on.",
        examples=[
            "faxbridge send --to +12025550123 contract.pdf",
            "faxbridge send --to '(202) 555-0123' --cover-text 'Please sign' --wait a.pdf b.png",
            "faxbridge send --to +12025550123 https://example.com/forms/intake.pdf",
            "faxbridge send --to +12025550123 --json letter.pdf | jq -r '.[0].id'",
        ],
        reads=[
            *STORE_SETTINGS,
            "DEFAULT_REGION",
            "ALLOWED_COUNTRIES",
            "COVER",
            "FETCH_ALLOWED_HOSTS",
            "FETCH_TIMEOUT_SECONDS",
            "PROVIDER",
            "RINGCENTRAL_* (with --wait when no serve runs)",
        ],
    )
    send.add_argument(
        "--to", required=True, action="append", metavar="NUMBER", help="fax number (repeatable)"
    )
    send.add_argument("--cover-text", default="", metavar="TEXT", help="text for the cover page")
    send.add_argument("--subject", default="", help="subject line for the cover page")
    send.add_argument("--wait", action="store_true", help="follow the fax to its end; exit 0 only on success")
    send.add_argument(
        "files", nargs="+", metavar="FILE_OR_LINK", help="files and https:// links, faxed in the order given"
    )
    send.set_defaults(run=cmd_send)

    jobs = add_command(
        commands,
        "jobs",
        summary="list jobs, newest first",
        description="List jobs, newest first, as a table (or a JSON array with --json).",
        examples=["faxbridge jobs", "faxbridge jobs --state failed", "faxbridge jobs --json --limit 10"],
        reads=STORE_SETTINGS,
    )
    states = [state.value for state in JobState]
    jobs.add_argument(
        "--state", choices=states, metavar="STATE", help=f"only jobs in this state: {', '.join(states)}"
    )
    jobs.add_argument("--limit", type=_positive, default=100, metavar="N", help="at most N jobs")
    jobs.set_defaults(run=cmd_jobs)

    status = add_command(
        commands,
        "status",
        summary="one job in detail",
        description="One job in detail: state, sender and channel, pages, attempts, RingCentral's id,\n"
        "documents and history. JOB_ID may be shortened to any prefix that names one job.",
        examples=["faxbridge status 3f9c", "faxbridge status 3f9c2a81b7d0 --json"],
        reads=STORE_SETTINGS,
    )
    status.add_argument("job_id", metavar="JOB_ID", help="a job id, or an unambiguous prefix of one")
    status.set_defaults(run=cmd_status)

    retry = add_command(
        commands,
        "retry",
        summary="queue a failed job again",
        description="Queue a failed job again, now. JOB_ID may be shortened to an unambiguous prefix.",
        examples=["faxbridge retry 3f9c"],
        reads=STORE_SETTINGS,
    )
    retry.add_argument("job_id", metavar="JOB_ID", help="a job id, or an unambiguous prefix of one")
    retry.set_defaults(run=cmd_retry)

    cancel = add_command(
        commands,
        "cancel",
        summary="cancel a job not yet sent",
        description="Cancel a job that has not been handed to RingCentral yet.\n"
        "JOB_ID may be shortened to an unambiguous prefix.",
        examples=["faxbridge cancel 3f9c"],
        reads=STORE_SETTINGS,
    )
    cancel.add_argument("job_id", metavar="JOB_ID", help="a job id, or an unambiguous prefix of one")
    cancel.set_defaults(run=cmd_cancel)

    resolve = add_command(
        commands,
        "resolve",
        summary="settle a submission whose fate RingCentral could not tell, from what you found there",
        description='Settle a job that failed as "unknown whether it was sent", from what you found in\n'
        "RingCentral's message log: --sent records it as sent, --not-sent queues it again.\n"
        "JOB_ID may be shortened to an unambiguous prefix.",
        examples=["faxbridge resolve 3f9c --sent", "faxbridge resolve 3f9c --not-sent"],
        reads=[*STORE_SETTINGS, "SUBMIT_TIMEOUT_SECONDS"],
    )
    resolve.add_argument("job_id", metavar="JOB_ID", help="a job id, or an unambiguous prefix of one")
    found = resolve.add_mutually_exclusive_group(required=True)
    found.add_argument("--sent", action="store_true", help="RingCentral has the fax: record it as sent")
    found.add_argument(
        "--not-sent", action="store_true", help="RingCentral never got it: queue it to be sent again"
    )
    resolve.set_defaults(run=cmd_resolve)

    check = add_command(
        commands,
        "check",
        summary="validate the settings and reach every configured service",
        description="Validate the settings, try the listening ports, and reach every configured service\n"
        "(RingCentral login, Slack auth.test, the reply relay); say how to fix what fails.\n"
        "Exit 0 when all is well (warnings allowed), 2 for a configuration error, 1 when a\n"
        "service cannot be reached.",
        examples=["faxbridge check", "faxbridge check --json | jq '.findings[] | select(.level != \"ok\")'"],
        reads=["*"],
    )
    check.set_defaults(run=cmd_check)

    sandbox = add_command(
        commands,
        "sandbox",
        summary="run the built-in RingCentral stand-in alone",
        description="Run the built-in RingCentral stand-in as a server of its own, with RingCentral's\n"
        "rate limits, for trying a client against it.",
        examples=["faxbridge sandbox", "faxbridge sandbox --port 8091 --delay 0.5 --state-file faxes.json"],
        reads=["SANDBOX_DELAY_SECONDS (when --delay is not given)"],
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sandbox.add_argument("--port", type=int, default=8090, help="port to listen on")
    sandbox.add_argument("--delay", type=float, help="seconds from queued to sent, and sent to delivered")
    sandbox.add_argument(
        "--heavy-limit", type=int, default=10, help="fax sends per window, as RingCentral's plan"
    )
    sandbox.add_argument(
        "--light-limit", type=int, default=50, help="status reads per window, as RingCentral's plan"
    )
    sandbox.add_argument(
        "--auth-limit", type=int, default=5, help="token requests per window, as RingCentral's plan"
    )
    sandbox.add_argument(
        "--window", type=float, default=60.0, help="rate-limit window in seconds, as RingCentral's"
    )
    sandbox.add_argument(
        "--penalty", type=float, default=60.0, help="seconds a 429 locks the group out, as RingCentral's"
    )
    sandbox.add_argument("--state-file", type=Path, help="remember faxes across restarts in this JSON file")
    sandbox.set_defaults(run=cmd_sandbox)
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="COMMAND")
    receive = sandbox_commands.add_parser(
        "receive", help="make the stand-in receive a fax (a demo `serve`'s, or one run alone)"
    )
    receive.add_argument("--from", dest="sender", required=True, metavar="NUMBER", help="the caller's number")
    receive.add_argument(
        "--to", metavar="NUMBER", help="the number it arrives on (default: the stand-in's fax number)"
    )
    receive.add_argument(
        "--url", help="the stand-in's base URL (default: the demo `serve`'s, else http://127.0.0.1:8090)"
    )
    receive.add_argument("file", type=Path, metavar="FILE", help="a PDF or TIFF")
    receive.set_defaults(run=cmd_sandbox_receive)

    backup = add_command(
        commands,
        "backup",
        summary="copy the job store, consistently, while serve runs",
        description="Write a consistent copy of the job store (SQLite's backup API) to PATH, mode 0600.\n"
        "Safe while `serve` runs. The document spool is not included: copy spool/ as well.",
        examples=[
            "faxbridge backup /var/backups/faxbridge.db",
            "faxbridge backup --force /var/backups/faxbridge.db",
        ],
        reads=STORE_SETTINGS,
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="file to write (its directory must exist)")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    backup.set_defaults(run=cmd_backup)

    moving = add_command(
        commands,
        "migrate-store",
        summary="copy a SQLite store into an empty PostgreSQL database",
        description="Copy every job, its history, the notices owed and every document's bytes from a SQLite\n"
        "store into an empty PostgreSQL database, in one transaction. Stop `serve` first.",
        examples=[
            "faxbridge migrate-store --to postgresql://faxbridge:PASSWORD@db:5432/faxbridge",
            "faxbridge migrate-store --from sqlite:/var/lib/faxbridge/faxbridge.db --to postgresql://db/faxbridge",
        ],
        reads=STORE_SETTINGS,
    )
    moving.add_argument(
        "--from",
        dest="source",
        metavar="sqlite:PATH",
        help="the SQLite database file (default: this bridge's, from FAXBRIDGE_DATA_DIR/_DATABASE_URL)",
    )
    moving.add_argument(
        "--spool", type=Path, metavar="DIR", help="its document spool (default: spool/ beside the database)"
    )
    moving.add_argument("--to", dest="target", required=True, metavar="postgresql://...", help="the target")
    moving.set_defaults(run=cmd_migrate_store)
    add_inbox_commands(commands)

    manifest = add_command(
        commands,
        "slack-manifest",
        summary="print a Slack app manifest (YAML) for this bridge",
        description="Print a Slack app manifest (YAML) with the slash command, scopes and request URLs\n"
        'of this bridge, to paste into "Create New App > From a manifest".',
        examples=[
            "faxbridge slack-manifest --url https://fax.example.com",
            "faxbridge slack-manifest --socket-mode",
        ],
        reads=["SLACK_COMMAND"],
    )
    manifest.add_argument("--url", default="", metavar="https://HOST", help="the bridge's public base URL")
    manifest.add_argument("--socket-mode", action="store_true", help="for Socket Mode: no request URLs")
    manifest.set_defaults(run=cmd_slack_manifest)

    for reporting in (send, jobs, status, retry, cancel, resolve, check, backup):
        reporting.add_argument("--json", action="store_true", help="print JSON (README: JSON output)")
    # Also after the command's name (`faxbridge jobs --config PATH`); SUPPRESS keeps a value given before it.
    for command in commands.choices.values():
        command.add_argument(
            "--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP
        )
    return parser


# Commands import the parts they run when they run: `faxbridge jobs` need not load Slack, SMTP and HTTP.
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.serve import serve

    asyncio.run(serve(settings))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.check import run_checks
    from bridge.findings import exit_code, finding_data, render

    findings = asyncio.run(run_checks(settings))
    code = exit_code(findings)
    if args.json:
        print_json({"exit_code": code, "findings": [finding_data(f) for f in findings]})
    else:
        print(render(findings))
    return code


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.ringcentral.standin import StandinConfig, run_standin

    config = StandinConfig(
        delay_seconds=settings.ringcentral.sandbox_delay_seconds if args.delay is None else args.delay,
        heavy_limit=args.heavy_limit,
        light_limit=args.light_limit,
        auth_limit=args.auth_limit,
        window_seconds=args.window,
        penalty_seconds=args.penalty,
        state_file=args.state_file,
    )
    problem = bind_problem(Listener("stand-in", args.host, args.port, "--host", "--port"))
    if problem:
        raise PortUnavailable(problem)
    run_standin(args.host, args.port, config)
    return EXIT_OK


def cmd_sandbox_receive(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.sandbox import receive, standin_url

    url = standin_url(settings.store.data_dir, args.url)
    record = receive(url, args.file, sender=args.sender, to=args.to)
    print(
        f"fax {record['id']} received by the stand-in at {url}: from {record['from']['phoneNumber']}"
        f" to {record['to'][0]['phoneNumber']}, {record['faxPageCount']} pages"
    )
    return EXIT_OK


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.sqlite.backup import backup_store

    if settings.store.uses_postgres:
        print(
            "faxbridge: the jobs live in PostgreSQL: back them up with pg_dump (docs/postgresql.md)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    _existing_store(settings)
    made = backup_store(settings.store.database_path, args.path, force=args.force)
    if args.json:
        print_json({"path": str(made.path), "jobs": made.jobs, "bytes": made.size})
    else:
        print(f"backed up {plural(made.jobs, 'job')} to {made.path} ({made.size / 1024:.0f} KiB)")
    return EXIT_OK


def cmd_migrate_store(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.migrate_store import migrate_store
    from adapters.cli.stores import describe

    configured = settings.store.spool_dir if args.source is None and not settings.store.uses_postgres else None
    source = str(args.source or f"sqlite:{settings.store.database_path}")
    if not source.startswith("sqlite:") or not str(args.target).startswith(("postgresql://", "postgres://")):
        print("faxbridge: migrate-store copies --from sqlite:PATH --to postgresql://...", file=sys.stderr)
        return EXIT_USAGE
    database = Path(source.removeprefix("sqlite:").removeprefix("///").removeprefix("//"))
    spool = args.spool or configured or database.parent / "spool"
    if not database.is_file():
        print(f"faxbridge: there is no SQLite store at {database}", file=sys.stderr)
        return EXIT_FAILED
    lock = ServeLock(database.parent)
    if not lock.acquire():
        print(f"faxbridge: stop `faxbridge serve` on {database.parent} first", file=sys.stderr)
        return EXIT_FAILED
    try:
        copied = asyncio.run(migrate_store(database, spool, args.target))
    except (ValueError, OSError, sqlite3.Error, psycopg.Error) as exc:
        print(f"faxbridge: nothing was copied: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        lock.release()
    print(
        f"copied {copied.rows['jobs']} jobs and {copied.documents} documents to {describe(args.target)}"
        + (f"; {copied.missing} documents were already missing from the spool" if copied.missing else "")
    )
    print("now set FAXBRIDGE_DATABASE_URL to it and start `faxbridge serve`")
    return EXIT_OK


def cmd_slack_manifest(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.slack.manifest import manifest_yaml

    try:
        text = manifest_yaml(args.url, command=settings.slack.command, socket_mode=args.socket_mode)
    except ValueError as exc:
        print(f"faxbridge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(text, end="")
    return EXIT_OK


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_send(args, settings, wait=args.wait))


def _request(args: argparse.Namespace, attachments: tuple[Attachment, ...]) -> FaxRequest:
    return FaxRequest(
        to=tuple(args.to),
        origin=Origin(channel=Channel.CLI, sender=_local_user()),
        attachments=attachments,
        cover=Cover(sender=_local_user(), subject=args.subject, note=args.cover_text),
        strict=True,
    )


async def _send(args: argparse.Namespace, settings: Settings, *, wait: bool) -> int:
    from adapters.cli.wiring import build_bridge

    lock = ServeLock(settings.store.data_dir)
    # Without a running `serve`, `send --wait` does the dispatching itself, holding the lock meanwhile.
    dispatch_here = wait and lock.acquire()
    bridge = await build_bridge(settings, provider=None if dispatch_here else _no_provider())
    scratch = Scratch.create(settings.store.incoming_dir)
    try:
        links = LinkFetcher.from_settings(
            settings.fetch, workers=bridge.service.workers, metrics=bridge.metrics
        )
        try:
            request = _request(args, await _attachments(args.files, scratch, links))
        except OSError as exc:
            print(f"faxbridge: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
        acceptance = await bridge.service.accept(request)
        if dispatch_here:
            # Its own faxes only: others queued here wait for `serve`, which may be configured otherwise.
            bridge.dispatcher.only = frozenset(job.id for job in acceptance.jobs)
            bridge.start_workers()
        if not args.json:
            for job in acceptance.jobs:
                print(f"{job.id}  queued  to {job.to}, {plural(job.pages, 'page')}")
        if not wait:
            if args.json:
                print_json([job_summary(j) for j in acceptance.jobs])
            elif not lock.held_by_other():
                print("queued; `faxbridge serve` sends it when it runs")
            return EXIT_OK
        try:
            finals = await asyncio.gather(
                *(_follow(bridge.store, job, quiet=args.json) for job in acceptance.jobs)
            )
        except asyncio.CancelledError:  # Ctrl-C: stop following, never the fax
            _still_going(acceptance.jobs, settings, serving=not dispatch_here)
            raise
        if args.json:
            print_json([job_summary(j) for j in finals])
        return EXIT_OK if all(succeeded(j) for j in finals) else EXIT_FAILED
    finally:
        scratch.remove()
        await bridge.close()
        lock.release()


def _still_going(jobs: Sequence[Job], settings: Settings, *, serving: bool) -> None:
    """Tell someone who stopped `send --wait` that the fax is not stopped, and how to follow it."""
    if serving:
        print("faxbridge: stopped following; the fax goes on (the running serve sends it)", file=sys.stderr)
    else:
        print(
            "faxbridge: stopped following; the fax goes on: RingCentral sends what it has, and"
            f" `faxbridge serve` on {settings.store.data_dir} sends what is still queued and follows the rest",
            file=sys.stderr,
        )
    for job in jobs:
        print(f"faxbridge: follow it with `faxbridge status {job.id}`", file=sys.stderr)


async def _attachments(items: Sequence[str], scratch: Scratch, links: LinkFetcher) -> tuple[Attachment, ...]:
    """The files and the links' documents, in the order given, within one fax's size limit.

    Files are copied into the data directory first (they may change or go once the command
    returns), so a missing file stops the command before anything is downloaded.
    """
    links.check_count(sum(is_link(item) for item in items))
    copied = {
        index: Attachment(name=Path(item).name, content=scratch.copy(Path(item)))
        for index, item in enumerate(items)
        if not is_link(item)
    }
    taken = sum(a.content.size for a in copied.values())
    documents: list[Attachment] = []
    for index, item in enumerate(items):
        if index not in copied:
            copied[index] = await links.fetch(item, scratch, left=links.max_bytes - taken)
            taken += copied[index].content.size
        documents.append(copied[index])
    return tuple(documents)


async def _follow(store: JobStore, job: Job, *, quiet: bool = False) -> Job:
    """Print each state change of a job as it happens (unless `quiet`), until it ends."""
    shown = 0
    while True:
        current = await store.get(job.id)
        for step in [] if quiet else current.history[shown:]:
            reason = f": {step.reason}" if step.reason else ""
            print(f"{step.at:%H:%M:%S}  {job.id}  {step.state}{reason}", flush=True)
        shown = len(current.history)
        if current.state.is_final or (current.state is JobState.SENT and current.settled):
            if not quiet:
                print(f"{job.id}  {outcome(current)}")
            return current
        await asyncio.sleep(WAIT_POLL)


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    jobs = asyncio.run(
        _with_store(settings, lambda s: s.list_jobs(state=_state(args.state), limit=args.limit))
    )
    if args.json:
        print_json([job_summary(j) for j in jobs])
        return EXIT_OK
    if not jobs:
        print("no jobs" if args.state is None else f"no {args.state} jobs")
        return EXIT_OK
    rows = [
        (
            job.id,
            job.state,
            job.to,
            job.origin.channel,
            job.origin.sender,
            job.pages,
            f"{job.created:%Y-%m-%d %H:%M}",
        )
        for job in jobs
    ]
    headers = ("ID", "STATE", "TO", "VIA", "SENDER", "PAGES", "CREATED (UTC)")
    print(table(headers, rows, right=("PAGES",)))
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    job, troubles = asyncio.run(_with_store(settings, lambda s: _job_and_troubles(s, args.job_id)))
    detail = job_detail(job, troubles)
    if args.json:
        print_json(detail)
        return EXIT_OK
    print(f"job {job.id}: {job.state} — {outcome(job)}")
    sender = job.origin.sender + (f" ({job.origin.sender_name})" if job.origin.sender_name else "")
    facts = (
        ("to", job.to),
        ("sender", sender),
        ("channel", job.origin.channel),
        ("created", detail["created"]),
        ("updated", detail["updated"]),
        ("pages", job.pages),
        ("attempts", job.attempts),
        ("provider id", job.provider_id or "none yet"),
    )
    for key, value in facts:
        print(f"  {key:<12} {value}")
    print("  documents:")
    for doc in detail["documents"]:
        print(f"    {doc['name']} ({doc['type']}, {plural(doc['pages'], 'page')})")
    for item in detail["left_out"]:
        print(f"    left out: {item['name']}: {item['reason']}")
    print("  history:")
    for step in detail["history"]:
        print(f"    {step['time']}  {step['state']}" + (f": {step['reason']}" if step["reason"] else ""))
    for reply in detail["replies_failing"]:
        print(
            f"  {reply['kind']} notice to the sender failed {plural(reply['attempts'], 'time')}, next try"
            f" {reply['retry_at']}: {reply['error']}"
        )
    return EXIT_OK


async def _job_and_troubles(store: JobStore, typed: str) -> tuple[Job, list[ReplyTrouble]]:
    job_id = await full_job_id(store, typed)
    return await store.get(job_id), await store.reply_troubles(job_id)


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    job = asyncio.run(_with_job(settings, args.job_id, lambda s, job_id: s.retry(job_id)))
    return _done(args, job, "queued again")


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    job = asyncio.run(
        _with_job(
            settings, args.job_id, lambda s, job_id: s.resolve(job_id, sent=args.sent, by=_local_user())
        )
    )
    return _done(args, job, "sent" if args.sent else "queued again")


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    job = asyncio.run(_with_job(settings, args.job_id, lambda s, job_id: s.cancel(job_id, by=_local_user())))
    return _done(args, job, "cancelled")


def _done(args: argparse.Namespace, job: Job, words: str) -> int:
    """What an operator action reports: the job as it now stands."""
    if args.json:
        print_json(job_summary(job))
    else:
        print(f"{job.id}  {words}")
    return EXIT_OK


async def _with_store(settings: Settings, action: Callable[[JobStore], Awaitable[T]]) -> T:
    _existing_store(settings)
    async with store_open(settings) as opened:
        return await action(opened.store)


async def _with_job(settings: Settings, typed: str, action: Callable[[FaxService, str], Awaitable[T]]) -> T:
    """An operator action on the one job whose id begins with what was typed."""

    async def act(store: JobStore) -> T:
        job_id = await full_job_id(store, typed)
        # A one-off command's counts are seen by no one; the running `serve` keeps the real ones.
        return await action(FaxService(settings.core, store, metrics=Metrics()), job_id)

    return await _with_store(settings, act)


def _positive(text: str) -> int:
    """A whole number above zero, for counts given on the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not above zero")
    return value


def _existing_store(settings: Settings) -> None:
    """Refuse to read state from a store that is not there: opening it would make an empty one."""
    if settings.store.uses_postgres:
        return  # a server's database is made by its operator; its tables come with the migrations
    database = settings.store.database_path
    if database.exists():
        return
    where = (
        f"FAXBRIDGE_DATABASE_URL names {database.resolve()}, which does not exist"
        if settings.store.database_url
        else f"no faxbridge store in the data directory {settings.store.data_dir.resolve()}"
    )
    raise ConfigError(
        f"{where}; point this command at the bridge's data with --config PATH or FAXBRIDGE_DATA_DIR"
        " (`serve` and `send` create a new store)"
    )


def _state(value: str | None) -> JobState | None:
    return JobState(value) if value else None


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "faxbridge"


class _NoProvider:
    """Stands in when another process (a running `serve`) does the sending."""

    async def submit(self, fax: OutboundFax) -> ProviderStatus:
        raise ConfigError("this process does not send faxes")

    async def status(self, provider_ids: Sequence[str]) -> list[ProviderStatus]:
        return []

    async def find_submission(self, to: str, since: datetime) -> list[ProviderStatus]:
        return []


def _no_provider() -> FaxProvider:
    return _NoProvider()
