"""`faxbridge inbox`: received faxes listed, one shown with its deliveries, one's document written to a file."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from adapters.cli.helptext import STORE_SETTINGS, add_command
from adapters.sqlite import SqliteJobStore
from adapters.sqlite.received import SqliteReceivedFaxes
from bridge.errors import BridgeError
from bridge.received import ReceivedFax
from bridge.settings import Settings
from bridge.views import received_summary
from bridge.wording import display_number

T = TypeVar("T")
EXIT_OK = 0
CHUNK = 1 << 20


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`inbox [--json]`, `inbox show ID [--json]` and `inbox get ID -o FILE`."""
    inbox = add_command(
        commands,
        "inbox",
        summary="received faxes: list, show one, write its document to a file",
        description="List received faxes with each delivery's destination, state and reason;\n"
        "`inbox show ID` shows one, `inbox get ID -o FILE` writes its PDF (mode 0600, never over a file).",
        examples=[
            "faxbridge inbox",
            "faxbridge inbox --json",
            "faxbridge inbox show rx1a2b3c4d5",
            "faxbridge inbox get rx1a2b3c4d5 -o fax.pdf",
        ],
        reads=STORE_SETTINGS,
    )
    inbox.add_argument("--json", action="store_true")
    inbox.add_argument("--limit", type=int, default=100)
    inbox.set_defaults(run=cmd_inbox)
    more = inbox.add_subparsers(dest="inbox_command", metavar="COMMAND")
    show = more.add_parser("show", help="one received fax with each delivery's destination, state and reason")
    show.add_argument("fax_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_inbox_show)
    get = more.add_parser("get", help="write a received fax's PDF to a file")
    get.add_argument("fax_id", metavar="ID")
    get.add_argument(
        "-o", "--output", required=True, type=Path, metavar="FILE", help="the file to write (must not exist)"
    )
    get.set_defaults(run=cmd_inbox_get)


def cmd_inbox(args: argparse.Namespace, settings: Settings) -> int:
    faxes = asyncio.run(_with_faxes(settings, lambda f: f.list_received(limit=args.limit)))
    if args.json:
        print(json.dumps([received_summary(fax) for fax in faxes], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not faxes:
        print("no received faxes")
    for fax in faxes:
        states = ", ".join(f"{d.destination} {d.state.value}" for d in fax.deliveries) or "no delivery"
        print(
            f"{fax.id}  {fax.received:%Y-%m-%d %H:%M}  {display_number(fax.from_number):<18} ->"
            f" {display_number(fax.to_number):<18} {fax.pages:>3}p  {states}"
        )
        if fax.note:
            print(f"    {fax.note}")
    return EXIT_OK


def cmd_inbox_show(args: argparse.Namespace, settings: Settings) -> int:
    fax = asyncio.run(_with_faxes(settings, lambda f: f.received_fax(args.fax_id)))
    detail = received_summary(fax)
    if args.json:
        print(json.dumps(detail, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"received fax {fax.id} (RingCentral message {fax.provider_id})")
    print(f"  from         {display_number(fax.from_number)}")
    print(f"  to           {display_number(fax.to_number)}")
    print(f"  received     {detail['received']}")
    print(f"  pages        {fax.pages}")
    print(f"  document     {'kept' if not fax.purged else 'not kept (purged, or it could not be had)'}")
    if fax.note:
        print(f"  note         {fax.note}")
    print("  deliveries:" if fax.deliveries else "  deliveries:  none")
    for item in detail["deliveries"]:
        reason = f": {item['reason']}" if item["reason"] else ""
        print(
            f"    {item['destination']}  {item['state']} after {item['attempts']} tries, {item['updated']}{reason}"
        )
    return EXIT_OK


def cmd_inbox_get(args: argparse.Namespace, settings: Settings) -> int:
    written = asyncio.run(_with_faxes(settings, lambda f: _write(f, args.fax_id, args.output)))
    print(f"wrote received fax {args.fax_id} to {args.output} ({written} bytes)")
    return EXIT_OK


async def _write(faxes: SqliteReceivedFaxes, fax_id: str, target: Path) -> int:
    fax = await faxes.received_fax(fax_id)
    return await asyncio.to_thread(_copy, faxes, fax, target)


def _copy(faxes: SqliteReceivedFaxes, fax: ReceivedFax, target: Path) -> int:
    try:
        # Never over an existing file; readable by this user only, as the spool is.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BridgeError(f"{target} exists; name a new file") from None
    except OSError as exc:
        raise BridgeError(f"cannot write {target}: {exc.strerror}") from exc
    written = 0
    try:
        with faxes.open_received(fax) as source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                written += out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return written


async def _with_faxes(settings: Settings, action: Callable[[SqliteReceivedFaxes], Awaitable[T]]) -> T:
    store = SqliteJobStore(settings.store.database_path, settings.store.spool_dir)
    await store.open()
    try:
        return await action(SqliteReceivedFaxes(store))
    finally:
        await store.close()
