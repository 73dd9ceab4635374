"""Intake throughput of the DEFAULT configuration: mails a second accepted durably (250 after fsync).

faxbridge runs as a user who changes nothing runs it (demo mode: generated cover pages, its own
RingCentral stand-in on its demo plan: RingCentral's limits but 30 fax sends a minute), 100 KiB
PDF mails over 8 connections.
Beside it, in the same run and in alternating rounds: a bare aiosmtpd server that only writes
and fsyncs each mail (baseline a) and Postfix accepting into its queue (baseline b). Medians of
the rounds are reported, with each one's CPU per mail.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosmtplib

from bench.common import (
    FAX_DOMAIN,
    BareSmtpd,
    descendants,
    fax_mail,
    median,
    pdf_of_size,
    show,
    start_serve,
    write_result,
)
from tests.helpers.ports import free_port, listening
from tests.helpers.postfix import PrivatePostfix
from tests.helpers.waiting import wait_for

ROUNDS = 3
CONNECTIONS = 8
MAILS_PER_CONNECTION = 40
ATTACHMENT = 100 * 1024
TICKS = os.sysconf("SC_CLK_TCK")


async def _blast(port: int, mails: list[bytes]) -> float:
    """Send every mail over CONNECTIONS sessions at once; return mails per second, all of them 250."""
    shares = [mails[i::CONNECTIONS] for i in range(CONNECTIONS)]

    async def session(share: list[bytes]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120, start_tls=False)
        await client.connect()
        for raw in share:
            errors, _ = await client.sendmail("bench@example.com", [f"12025550123@{FAX_DOMAIN}"], raw)
            if errors:
                raise RuntimeError(f"refused: {errors}")
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(session(share) for share in shares))
    return len(mails) / (time.perf_counter() - started)


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _measure(
    port: int, pids: Callable[[], list[int]], attachment: bytes, round_no: int
) -> tuple[float, float]:
    """(mails per second, CPU milliseconds per mail in the server's processes) for one round."""
    count = CONNECTIONS * MAILS_PER_CONNECTION
    asyncio.run(_blast(port, [fax_mail(10_000 + round_no * 100 + i, attachment) for i in range(CONNECTIONS)]))
    mails = [fax_mail(round_no * count + i, attachment) for i in range(count)]
    before = _cpu_seconds(pids())
    rate = asyncio.run(_blast(port, mails))
    return rate, (_cpu_seconds(pids()) - before) * 1000 / count


def _postfix_pids(root: Path) -> list[int]:
    """Every process of the private Postfix (master and its services), found by their config directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            except OSError:
                continue
            if str(root).encode() in seen:
                found.append(int(entry.name))
    return found + [child for pid in found for child in descendants(pid) if child not in found]


def _faxbridge_round(work: Path, attachment: bytes, round_no: int) -> tuple[float, float]:
    serve = start_serve(work / f"faxbridge-{round_no}" / "var", None)
    try:
        return _measure(serve.smtp_port, lambda: [serve.pid, *descendants(serve.pid)], attachment, round_no)
    finally:
        serve.stop()


def run() -> dict[str, Any]:
    attachment = pdf_of_size(ATTACHMENT)
    results: dict[str, list[tuple[float, float]]] = {"faxbridge": [], "bare": [], "postfix": []}
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-intake-") as tmp:
        work = Path(tmp)
        bare = BareSmtpd(work / "bare")
        postfix: PrivatePostfix | None = None
        try:
            postfix = PrivatePostfix(fax_domain=FAX_DOMAIN, transport="discard:", listen_port=free_port())
            postfix.start()
            wait_for(lambda: listening(postfix.listen_port), 30, "Postfix")  # type: ignore[union-attr]
        except (RuntimeError, OSError) as exc:
            print(f"  Postfix baseline not measured: {exc}")
            postfix = None
        try:
            for round_no in range(ROUNDS):
                # Alternating, and each round in another order, so no one always runs on a warmer machine.
                order = ["faxbridge", "bare", "postfix"][round_no % 3 :] + ["faxbridge", "bare", "postfix"][
                    : round_no % 3
                ]
                for name in order:
                    if name == "faxbridge":
                        results[name].append(_faxbridge_round(work, attachment, round_no))
                    elif name == "bare":
                        results[name].append(_measure(bare.port, lambda: [bare.pid], attachment, round_no))
                    elif postfix is not None:
                        root = postfix.root
                        results[name].append(
                            _measure(
                                postfix.listen_port,
                                lambda root=root: _postfix_pids(root),
                                attachment,
                                round_no,
                            )
                        )
        finally:
            bare.stop()
            if postfix is not None:
                postfix.stop()

    def rate(name: str) -> float | None:
        return round(median([r for r, _ in results[name]]), 1) if results[name] else None

    def cpu(name: str) -> float | None:
        return round(median([c for _, c in results[name]]), 1) if results[name] else None

    bridge, bare_rate, postfix_rate = rate("faxbridge"), rate("bare"), rate("postfix")
    if bridge is None or bare_rate is None:
        raise RuntimeError("a round of faxbridge or the bare server measured nothing")
    figures: dict[str, Any] = {
        "configuration": "default (demo mode: generated cover pages, built-in stand-in on its demo plan)",
        "rounds": ROUNDS,
        "mails_per_round": CONNECTIONS * MAILS_PER_CONNECTION,
        "connections": CONNECTIONS,
        "attachment_bytes": ATTACHMENT,
        "faxbridge_per_second": bridge,
        "bare_aiosmtpd_per_second": bare_rate,
        "postfix_per_second": postfix_rate,
        "faxbridge_rounds": [round(r, 1) for r, _ in results["faxbridge"]],
        "bare_aiosmtpd_rounds": [round(r, 1) for r, _ in results["bare"]],
        "postfix_rounds": [round(r, 1) for r, _ in results["postfix"]],
        "faxbridge_cpu_ms_per_mail": cpu("faxbridge"),
        "bare_aiosmtpd_cpu_ms_per_mail": cpu("bare"),
        "postfix_cpu_ms_per_mail": cpu("postfix"),
        "ratio_to_bare_aiosmtpd": round(bridge / bare_rate, 2),
        "ratio_to_postfix": None if postfix_rate is None else round(bridge / postfix_rate, 2),
        "target": "at least 0.8 of the bare aiosmtpd server (goal: 1.0 of Postfix)",
    }
    show(
        "Intake throughput, default configuration (100 KiB PDF, 8 connections, 250 after fsync; "
        f"median of {ROUNDS} alternating rounds)",
        [
            (
                "faxbridge (generated cover, demo stand-in)",
                f"{bridge:.1f} mails/s, {cpu('faxbridge')} ms CPU/mail",
            ),
            ("bare aiosmtpd + fsync", f"{bare_rate:.1f} mails/s, {cpu('bare')} ms CPU/mail"),
            (
                "Postfix (queue, discard)",
                "not measured"
                if postfix_rate is None
                else f"{postfix_rate:.1f} mails/s, {cpu('postfix')} ms CPU/mail",
            ),
            ("faxbridge / bare aiosmtpd", f"{bridge / bare_rate:.2f} (target >= 0.8)"),
            (
                "faxbridge / Postfix",
                "-" if postfix_rate is None else f"{bridge / postfix_rate:.2f} (goal >= 1.0)",
            ),
        ],
    )
    write_result("intake", figures)
    return figures


if __name__ == "__main__":
    run()
