"""Document bytes in PostgreSQL, in chunks: written from a file a chunk at a time, read back the same way.

Neither direction holds more than one chunk of a document in memory, whatever its size.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bridge.errors import DocumentMissing, StoreUnavailable

CHUNK = 1024 * 1024  # bytes per row of document_chunks


async def write_file(cur: psycopg.AsyncCursor[Any], document_id: int, path: Path) -> int:
    """Copy a file into a document's chunks inside the caller's transaction; return its size."""
    size = 0
    handle = await asyncio.to_thread(open, path, "rb")
    with handle:
        seq = 0
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            await cur.execute(
                "INSERT INTO document_chunks (document_id, seq, data) VALUES (%s, %s, %s)",
                (document_id, seq, chunk),
            )
            size += len(chunk)
            seq += 1
    return size


async def write_bytes(cur: psycopg.AsyncCursor[Any], document_id: int, data: bytes) -> None:
    """Keep bytes already in memory (a drawn cover, a page or two) as a document's chunks."""
    for seq, start in enumerate(range(0, len(data), CHUNK)):
        await cur.execute(
            "INSERT INTO document_chunks (document_id, seq, data) VALUES (%s, %s, %s)",
            (document_id, seq, data[start : start + CHUNK]),
        )


class ChunkReader(io.RawIOBase):
    """A stored document as a seekable file: each read fetches the one chunk it needs.

    It holds one connection of the (blocking) reading pool until it is closed. Reads happen
    where the HTTP client streams the upload from, a chunk every megabyte.
    """

    _conn: psycopg.Connection[Any] | None

    def __init__(self, pool: ConnectionPool[Any], document_id: int, name: str) -> None:
        super().__init__()
        self._pool = pool
        self._id = document_id
        conn = self._conn = pool.getconn()
        try:
            row = conn.execute(
                "SELECT d.kept, COALESCE(SUM(octet_length(c.data)), 0), COUNT(c.seq)"
                " FROM documents d LEFT JOIN document_chunks c ON c.document_id = d.id"
                " WHERE d.id = %s GROUP BY d.id",
                (document_id,),
            ).fetchone()
            conn.rollback()
        except psycopg.Error as exc:
            self._release()
            raise StoreUnavailable(f"the job store cannot be read: {exc}") from exc
        if row is None or not row[0]:
            self._release()
            raise DocumentMissing(f"the bytes of {name} are no longer kept")
        self.size = int(row[1])
        self._pos = 0
        self._chunk_seq = -1
        self._chunk = b""

    def _release(self) -> None:
        if self._conn is not None:
            self._pool.putconn(self._conn)
            self._conn = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size:
            return 0
        seq, offset = divmod(self._pos, CHUNK)
        if seq != self._chunk_seq:
            self._chunk = self._fetch(seq)
            self._chunk_seq = seq
        piece = self._chunk[offset : offset + len(buffer)]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)

    def _fetch(self, seq: int) -> bytes:
        if self._conn is None:
            raise ValueError("read of a closed document")
        try:
            row = self._conn.execute(
                "SELECT data FROM document_chunks WHERE document_id = %s AND seq = %s", (self._id, seq)
            ).fetchone()
            self._conn.rollback()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"the job store cannot be read: {exc}") from exc
        if row is None:
            raise DocumentMissing("a document's bytes were removed while it was being read")
        return bytes(row[0])

    def close(self) -> None:
        self._release()
        super().close()


def open_reader(pool: ConnectionPool[Any], document_id: int, name: str) -> io.BufferedReader:
    """A buffered, seekable file over a stored document; raise DocumentMissing when it is gone."""
    return io.BufferedReader(ChunkReader(pool, document_id, name), buffer_size=CHUNK)
