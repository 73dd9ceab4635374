"""The `faxbridge` command line: serve, send, jobs, status, retry, cancel, resolve, sandbox, check, backup, slack-manifest."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from adapters.cli.inbox import add_commands as add_inbox_commands
from adapters.cli.lock import ServeLock
from adapters.links import LinkFetcher, is_link
from adapters.sqlite import SqliteJobStore
from bridge.errors import BridgeError, ConfigError, RequestRejected
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
from bridge.wording import outcome, succeeded

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
WAIT_POLL = 0.2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
        setup_logging(
            settings.log_format, level=settings.log_level, quiet=args.command not in ("serve", "sandbox")
        )
        # Whatever a command creates (the store, its spool, a lock) is for this user alone.
        with private_umask():
            return int(args.run(args, settings))
    except ConfigError as exc:
        print(f"faxbridge: configuration problem: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except RequestRejected as exc:
        print(f"faxbridge: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    except BridgeError as exc:
        print(f"faxbridge: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faxbridge", description="Send faxes from Slack, email and here.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the bridge: SMTP, HTTP, dispatcher, tracker")
    serve.set_defaults(run=cmd_serve)

    send = commands.add_parser("send", help="queue a fax from local files and https:// links")
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

    jobs = commands.add_parser("jobs", help="list jobs")
    jobs.add_argument("--state", choices=[s.value for s in JobState])
    jobs.add_argument("--json", action="store_true")
    jobs.add_argument("--limit", type=int, default=100)
    jobs.set_defaults(run=cmd_jobs)

    status = commands.add_parser("status", help="one job in detail")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)

    for name, helptext in (("retry", "queue a failed job again"), ("cancel", "cancel a job not yet sent")):
        action = commands.add_parser(name, help=helptext)
        action.add_argument("job_id", metavar="JOB_ID")
        action.set_defaults(run=cmd_retry if name == "retry" else cmd_cancel)

    resolve = commands.add_parser(
        "resolve", help="settle a submission whose fate RingCentral could not tell, from what you found there"
    )
    resolve.add_argument("job_id", metavar="JOB_ID")
    found = resolve.add_mutually_exclusive_group(required=True)
    found.add_argument("--sent", action="store_true", help="RingCentral has the fax: record it as sent")
    found.add_argument(
        "--not-sent", action="store_true", help="RingCentral never got it: queue it to be sent again"
    )
    resolve.set_defaults(run=cmd_resolve)

    check = commands.add_parser("check", help="validate the settings and reach every configured service")
    check.set_defaults(run=cmd_check)

    sandbox = commands.add_parser("sandbox", help="run the built-in RingCentral stand-in alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8090)
    sandbox.add_argument("--delay", type=float, help="seconds from queued to sent, and sent to delivered")
    sandbox.add_argument("--heavy-limit", type=int, default=10, help="fax sends per window (RingCentral: 10)")
    sandbox.add_argument(
        "--light-limit", type=int, default=50, help="status reads per window (RingCentral: 50)"
    )
    sandbox.add_argument(
        "--auth-limit", type=int, default=5, help="token requests per window (RingCentral: 5)"
    )
    sandbox.add_argument(
        "--window", type=float, default=60.0, help="rate-limit window in seconds (RingCentral: 60)"
    )
    sandbox.add_argument(
        "--penalty", type=float, default=60.0, help="429 penalty in seconds (RingCentral: 60)"
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

    backup = commands.add_parser(
        "backup",
        help="copy the job store, consistently, while serve runs",
        description="Write a consistent copy of the job store (SQLite's backup API) to PATH, mode 0600."
        " Safe while `serve` runs. The document spool is not included: copy spool/ as well.",
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="file to write (its directory must exist)")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    backup.set_defaults(run=cmd_backup)

    add_inbox_commands(commands)

    manifest = commands.add_parser("slack-manifest", help="print a Slack app manifest (YAML) for this bridge")
    manifest.add_argument("--url", default="", metavar="https://HOST", help="the bridge's public base URL")
    manifest.add_argument("--socket-mode", action="store_true", help="for Socket Mode: no request URLs")
    manifest.set_defaults(run=cmd_slack_manifest)
    return parser


# Commands import the parts they run when they run: `faxbridge jobs` need not load Slack, SMTP and HTTP.
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.serve import serve

    asyncio.run(serve(settings))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.check import run_checks
    from bridge.findings import exit_code, render

    findings = asyncio.run(run_checks(settings))
    print(render(findings))
    return exit_code(findings)


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.ringcentral.standin import StandinConfig, run_standin

    config = StandinConfig(
        delay_seconds=settings.sandbox_delay_seconds if args.delay is None else args.delay,
        heavy_limit=args.heavy_limit,
        light_limit=args.light_limit,
        auth_limit=args.auth_limit,
        window_seconds=args.window,
        penalty_seconds=args.penalty,
        state_file=args.state_file,
    )
    run_standin(args.host, args.port, config)
    return EXIT_OK


def cmd_sandbox_receive(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli.sandbox import receive, standin_url

    url = standin_url(settings.data_dir, args.url)
    record = receive(url, args.file, sender=args.sender, to=args.to)
    print(
        f"fax {record['id']} received by the stand-in at {url}: from {record['from']['phoneNumber']}"
        f" to {record['to'][0]['phoneNumber']}, {record['faxPageCount']} pages"
    )
    return EXIT_OK


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.sqlite.backup import backup_store

    made = backup_store(settings.database_path, args.path, force=args.force)
    jobs = f"{made.jobs} job" + ("" if made.jobs == 1 else "s")
    print(f"backed up {jobs} to {made.path} ({made.size / 1024:.0f} KiB)")
    return EXIT_OK


def cmd_slack_manifest(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.slack.manifest import manifest_yaml

    try:
        text = manifest_yaml(args.url, command=settings.slack_command, socket_mode=args.socket_mode)
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

    lock = ServeLock(settings.data_dir)
    # Without a running `serve`, `send --wait` does the dispatching itself, holding the lock meanwhile.
    dispatch_here = wait and lock.acquire()
    bridge = await build_bridge(settings, provider=None if dispatch_here else _no_provider())
    scratch = Scratch.create(settings.incoming_dir)
    try:
        links = LinkFetcher.from_settings(settings, workers=bridge.service.workers, metrics=bridge.metrics)
        try:
            request = _request(args, await _attachments(args.files, scratch, links))
        except OSError as exc:
            print(f"faxbridge: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
        if dispatch_here:
            bridge.start_workers()
        acceptance = await bridge.service.accept(request)
        for job in acceptance.jobs:
            print(f"{job.id}  queued  to {job.to}, {job.pages} pages")
        if not wait:
            if not lock.held_by_other():
                print("queued; `faxbridge serve` sends it when it runs")
            return EXIT_OK
        finals = await asyncio.gather(*(_follow(bridge.store, job) for job in acceptance.jobs))
        return EXIT_OK if all(succeeded(j) for j in finals) else EXIT_FAILED
    finally:
        scratch.remove()
        await bridge.close()
        lock.release()


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


async def _follow(store: JobStore, job: Job) -> Job:
    """Print each state change of a job as it happens, until it ends."""
    shown = 0
    while True:
        current = await store.get(job.id)
        for step in current.history[shown:]:
            reason = f": {step.reason}" if step.reason else ""
            print(f"{step.at:%H:%M:%S}  {job.id}  {step.state}{reason}", flush=True)
        shown = len(current.history)
        if current.state.is_final or (current.state is JobState.SENT and current.settled):
            print(f"{job.id}  {outcome(current)}")
            return current
        await asyncio.sleep(WAIT_POLL)


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    jobs = asyncio.run(
        _with_store(settings, lambda s: s.list_jobs(state=_state(args.state), limit=args.limit))
    )
    if args.json:
        print(json.dumps([job_summary(j) for j in jobs], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not jobs:
        print("no jobs")
    for job in jobs:
        print(
            f"{job.id}  {job.state:<10}  {job.to:<16}  {job.origin.channel:<5}  {job.pages:>3}p  {job.created:%Y-%m-%d %H:%M}"
        )
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    job, troubles = asyncio.run(_with_store(settings, lambda s: _job_and_troubles(s, args.job_id)))
    detail = job_detail(job, troubles)
    if args.json:
        print(json.dumps(detail, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"job {job.id}: {job.state} — {outcome(job)}")
    for key in ("to", "origin", "created", "updated", "pages", "attempts", "provider_id"):
        print(f"  {key:<12} {detail[key]}")
    print("  documents:")
    for doc in detail["documents"]:
        print(f"    {doc['name']} ({doc['type']}, {doc['pages']} pages)")
    for item in detail["left_out"]:
        print(f"    left out: {item['name']}: {item['reason']}")
    print("  history:")
    for step in detail["history"]:
        print(f"    {step['time']}  {step['state']}" + (f": {step['reason']}" if step["reason"] else ""))
    for reply in detail["replies_failing"]:
        print(
            f"  {reply['kind']} notice to the sender failed {reply['attempts']} times, next try"
            f" {reply['retry_at']}: {reply['error']}"
        )
    return EXIT_OK


async def _job_and_troubles(store: JobStore, job_id: str) -> tuple[Job, list[ReplyTrouble]]:
    return await store.get(job_id), await store.reply_troubles(job_id)


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    job = asyncio.run(_with_service(settings, lambda s: s.retry(args.job_id)))
    print(f"{job.id}  queued again")
    return EXIT_OK


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    job = asyncio.run(
        _with_service(settings, lambda s: s.resolve(args.job_id, sent=args.sent, by=_local_user()))
    )
    print(f"{job.id}  {'sent' if args.sent else 'queued again'}")
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    job = asyncio.run(_with_service(settings, lambda s: s.cancel(args.job_id, by=_local_user())))
    print(f"{job.id}  cancelled")
    return EXIT_OK


async def _with_store(settings: Settings, action: Callable[[JobStore], Awaitable[T]]) -> T:
    store = SqliteJobStore(settings.database_path, settings.spool_dir)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


async def _with_service(settings: Settings, action: Callable[[FaxService], Awaitable[T]]) -> T:
    # A one-off command's counts are seen by no one; the running `serve` keeps the real ones.
    return await _with_store(settings, lambda store: action(FaxService(settings, store, metrics=Metrics())))


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
