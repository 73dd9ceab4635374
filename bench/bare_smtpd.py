"""The intake baseline: a bare aiosmtpd server that only writes each message to disk and fsyncs it."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class DurableSink:
    """Write the message, fsync it and its directory entry, then say 250: the least a durable intake does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.to_thread(self._store, envelope.original_content or envelope.content)
        return "250 2.0.0 stored"

    def _store(self, data: bytes) -> None:
        path = self.folder / secrets.token_hex(8)
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


async def serve(port: int, folder: Path, max_size: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(DurableSink(folder), data_size_limit=max_size, enable_SMTPUTF8=True), "127.0.0.1", port
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--max-size", type=int, default=57_671_680)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.port, args.dir, args.max_size))


if __name__ == "__main__":
    main()
