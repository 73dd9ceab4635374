"""Intake throughput: mails a second accepted durably (250 after fsync), 100 KiB PDF, 8 connections.

Compared with a bare aiosmtpd handler that only writes and fsyncs (baseline a) and with
Postfix accepting into its queue (baseline b), all measured in this run on this machine.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib

from bench.common import (
    FAX_DOMAIN,
    Sandbox,
    Serve,
    clean_env,
    fax_mail,
    free_port,
    pdf_of_size,
    show,
    wait_for,
    write_result,
)
from bench.postfix import PrivatePostfix

CONNECTIONS = 8
MAILS_PER_CONNECTION = 40
ATTACHMENT = 100 * 1024


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


def _rate(port: int, count: int) -> float:
    attachment = pdf_of_size(ATTACHMENT)
    asyncio.run(_blast(port, [fax_mail(i, attachment) for i in range(CONNECTIONS)]))  # warm-up
    return asyncio.run(_blast(port, [fax_mail(i, attachment) for i in range(count)]))


def _bare_aiosmtpd(work: Path, count: int) -> float:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_smtpd", "--port", str(port), "--dir", str(work / "bare")],
        env=clean_env(),
    )
    try:
        wait_for(lambda: _connects(port), 30, "the bare aiosmtpd server")
        return _rate(port, count)
    finally:
        process.terminate()
        process.wait(10)


def _postfix(count: int) -> float | None:
    try:
        postfix = PrivatePostfix(fax_domain=FAX_DOMAIN, transport="discard:", listen_port=free_port())
        postfix.start()
    except (RuntimeError, OSError) as exc:
        print(f"  Postfix baseline not measured: {exc}")
        return None
    try:
        wait_for(lambda: _connects(postfix.listen_port), 30, "Postfix")
        return _rate(postfix.listen_port, count)
    finally:
        postfix.stop()


def _bridge(work: Path, count: int) -> float:
    sandbox = Sandbox()
    serve = Serve(work / "bridge" / "var", sandbox.url, cover="none")
    try:
        return _rate(serve.smtp_port, count)
    finally:
        serve.stop()
        sandbox.stop()


def _bridge_intake_only(work: Path, count: int) -> float:
    """The same, with the provider unreachable: intake alone, without the sending beside it."""
    serve = Serve(work / "alone" / "var", f"http://127.0.0.1:{free_port()}", cover="none")
    try:
        return _rate(serve.smtp_port, count)
    finally:
        serve.stop()


def _connects(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run() -> dict[str, Any]:
    count = CONNECTIONS * MAILS_PER_CONNECTION
    with tempfile.TemporaryDirectory(prefix="faxbridge-bench-intake-") as tmp:
        work = Path(tmp)
        bridge = _bridge(work, count)
        alone = _bridge_intake_only(work, count)
        bare = _bare_aiosmtpd(work, count)
        postfix = _postfix(count)
    figures: dict[str, Any] = {
        "mails": count,
        "connections": CONNECTIONS,
        "attachment_bytes": ATTACHMENT,
        "faxbridge_per_second": round(bridge, 1),
        "faxbridge_intake_alone_per_second": round(alone, 1),
        "bare_aiosmtpd_per_second": round(bare, 1),
        "postfix_per_second": None if postfix is None else round(postfix, 1),
        "ratio_to_bare_aiosmtpd": round(bridge / bare, 2),
        "intake_alone_ratio_to_bare_aiosmtpd": round(alone / bare, 2),
        "ratio_to_postfix": None if postfix is None else round(bridge / postfix, 2),
        "target": "at least 0.8 of the bare aiosmtpd handler",
    }
    show(
        "Intake throughput (100 KiB PDF, 8 connections, 250 after fsync)",
        [
            ("faxbridge (also sending each fax)", f"{bridge:.1f} mails/s"),
            ("faxbridge, provider down (intake alone)", f"{alone:.1f} mails/s"),
            ("bare aiosmtpd + fsync", f"{bare:.1f} mails/s"),
            ("Postfix (queue, discard)", "not measured" if postfix is None else f"{postfix:.1f} mails/s"),
            ("faxbridge / bare aiosmtpd", f"{bridge / bare:.2f} (target >= 0.8)"),
            ("faxbridge / Postfix", "-" if postfix is None else f"{bridge / postfix:.2f}"),
        ],
    )
    write_result("intake", figures)
    return figures


if __name__ == "__main__":
    run()
