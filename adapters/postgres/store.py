"""PostgresJobStore: every store port on PostgreSQL, shared by several bridges at once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from adapters.postgres.documents import open_reader, write_bytes, write_file
from adapters.postgres.schema import MIGRATIONS, migrate
from bridge import transitions
from bridge.errors import DocumentMissing, JobNotFound, StoreUnavailable
from bridge.model import (
    DocumentRole,
    Envelope,
    Job,
    LeftOut,
    Origin,
    PreparedFax,
    StoredDocument,
    Transition,
)
from bridge.origin_codec import origin_from_json, origin_to_json
from bridge.ports import Acceptance, PendingReply, ReplyKind, ReplyTrouble
from bridge.sheet_codec import sheet_from_json, sheet_to_json
from bridge.spooling import scratch_root, sweep_scratch
from bridge.states import FINAL_STATES, JobState
from bridge.transitions import StateChange

log = logging.getLogger("faxbridge.postgres")
T = TypeVar("T")
Cursor = psycopg.AsyncCursor[dict[str, Any]]
CHANNEL = "faxbridge_work"  # NOTIFY channel: new work, or a change someone may owe a notice for
STATUS_CHANNEL = "faxbridge_status"  # the provider said a fax changed: the leader's tracker should look
_FINAL = [s.value for s in FINAL_STATES]
# A batch (alias b) whose every job has ended (final, or sent and settled) before a cutoff.
_ALL_ENDED = (
    "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id AND ((j.state <> ALL(%(final)s)"
    " AND NOT (j.state = 'sent' AND j.settled)) OR j.updated >= %(before)s))"
)
# Conflicts another instance's concurrent transaction can cause; the transaction is simply run again.
_RETRY = (pgerrors.UniqueViolation, pgerrors.SerializationFailure, pgerrors.DeadlockDetected)
RETRIES = 20
MIN_SERVER_VERSION = (
    130000  # PostgreSQL 13: tested on 15; older ones lack nothing used here but are unsupported
)
LISTEN_RETRY_SECONDS = 2.0


async def _check_version(conn: psycopg.AsyncConnection[Any]) -> None:
    number = conn.info.server_version
    if number < MIN_SERVER_VERSION:
        raise StoreUnavailable(
            f"PostgreSQL {number // 10000} is too old for faxbridge; it needs {MIN_SERVER_VERSION // 10000} or newer"
        )


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class PostgresJobStore:
    """Jobs, documents and the outbox in PostgreSQL; every durable write is committed with
    `synchronous_commit = on` before it returns. Several processes may share one database."""

    def __init__(
        self, url: str, spool_dir: Path, *, max_connections: int = 10, connect_timeout: float = 30.0
    ) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self.spool_dir = spool_dir
        # psycopg's own pool; statements are not prepared, so PgBouncer in transaction mode works.
        self._kwargs: dict[str, Any] = {
            "prepare_threshold": None,
            "options": "-c TimeZone=UTC -c synchronous_commit=on",
        }
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            kwargs={**self._kwargs, "row_factory": dict_row},
            timeout=30.0,
            name="faxbridge",
        )
        # Documents are read from where the HTTP client streams them, which is blocking code.
        self._readers: ConnectionPool[Any] = ConnectionPool(
            url, min_size=0, max_size=4, open=False, kwargs=self._kwargs, timeout=30.0, name="faxbridge-docs"
        )
        self._listeners: list[Callable[[], None]] = []
        self._status_listeners: list[Callable[[], None]] = []
        self._listening: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return "<PostgresJobStore>"

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (in the event loop) after every write, by this instance or any other,
        that may mean new work or a notice owed: NOTIFY carries it between instances."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def subscribe_status(self, listener: Callable[[], None]) -> None:
        """Call `listener` when any instance passes on the provider's word that a fax changed."""
        self._status_listeners.append(listener)

    async def nudge_status(self) -> None:
        """Tell every instance (the leader's tracker listens) that the provider reported a change."""

        async def notify(cur: Cursor) -> None:
            await cur.execute(f"NOTIFY {STATUS_CHANNEL}")

        await self._run(notify, durable=False)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        sweep_scratch(scratch_root(self.spool_dir))
        try:
            await self._pool.open(wait=True, timeout=self._connect_timeout)
            self._readers.open()
            async with self._pool.connection() as conn:
                await _check_version(conn)
                await migrate(conn)
        except BaseException as exc:
            await self.close()
            if isinstance(exc, psycopg.Error | PoolTimeout | OSError):
                raise StoreUnavailable(f"the PostgreSQL store cannot be opened: {exc}") from exc
            raise
        self._listening = asyncio.create_task(self._listen(), name="store-listen")

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
            self._listening = None
        await self._pool.close()
        await asyncio.to_thread(self._readers.close)

    async def _listen(self) -> None:
        """Wake this instance's workers when any instance commits work (polling remains the fallback)."""
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **self._kwargs)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {STATUS_CHANNEL}")
                    self._changed()  # whatever was missed while not listening
                    async for notice in conn.notifies():
                        if notice.channel == STATUS_CHANNEL:
                            for listener in self._status_listeners:
                                listener()
                        else:
                            self._changed()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning("not listening for other instances' work (%s); retrying", type(exc).__name__)
            await asyncio.sleep(LISTEN_RETRY_SECONDS)

    @contextlib.asynccontextmanager
    async def _cursor(self, *, durable: bool = True) -> AsyncIterator[Cursor]:
        """One transaction on a pooled connection, committed when the block ends.

        Durable ones wait for the commit to be flushed; the others (bookkeeping that can be
        redone) skip the wait, and survive anything but a crash of the database server.
        """
        async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if not durable:
                await cur.execute("SET LOCAL synchronous_commit = off")
            yield cur

    async def _run(self, work: Callable[[Cursor], Awaitable[T]], *, durable: bool = True) -> T:
        """Run `work` in one transaction, again when another instance's transaction got in its way."""
        for attempt in range(RETRIES):
            try:
                async with self._cursor(durable=durable) as cur:
                    return await work(cur)
            except _RETRY:
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.005 * (attempt + 1))
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError) as exc:
                raise StoreUnavailable(f"the job store cannot be written: {exc}") from exc
        raise AssertionError("unreachable")

    async def _read(self, work: Callable[[Cursor], Awaitable[T]]) -> T:
        return await self._run(work, durable=False)

    @staticmethod
    async def _notify(cur: Cursor) -> None:
        await cur.execute(f"NOTIFY {CHANNEL}")

    # -- intake ----------------------------------------------------------------------------

    async def create_jobs(
        self,
        *,
        numbers: Sequence[str],
        prepared: PreparedFax,
        origin: Origin,
        idempotency_key: str | None,
        now: datetime,
        key_since: datetime | None = None,
    ) -> Acceptance:
        wanted = list(numbers)

        async def store(cur: Cursor) -> tuple[dict[str, str], bool]:
            existing = (
                await self._existing(cur, idempotency_key, wanted, key_since) if idempotency_key else {}
            )
            missing = [n for n in wanted if n not in existing]
            if not missing:
                return existing, True
            if idempotency_key and key_since is not None:
                # The same key past its time is a new request: the old job lets go of it.
                await cur.execute(
                    "UPDATE jobs SET idempotency_key = NULL WHERE idempotency_key = %s AND created < %s"
                    " AND to_number = ANY(%s)",
                    (idempotency_key, key_since, missing),
                )
            created = await self._insert(cur, missing, prepared, origin, idempotency_key, now)
            await self._notify(cur)
            return {**existing, **created}, False

        # A caller cancelled half-way (an SMTP client that hung up) must not cut the commit short.
        storing = asyncio.ensure_future(self._run(store))
        storing.add_done_callback(_retrieve)
        ids, duplicate = await asyncio.shield(storing)
        self._changed()
        jobs = await self._read(lambda cur: self._jobs(cur, [ids[n] for n in wanted]))
        return Acceptance(jobs=tuple(jobs), duplicate=duplicate)

    @staticmethod
    async def _existing(cur: Cursor, key: str, numbers: list[str], since: datetime | None) -> dict[str, str]:
        await cur.execute(
            "SELECT id, to_number FROM jobs WHERE idempotency_key = %s AND to_number = ANY(%s)"
            " AND (%s::timestamptz IS NULL OR created >= %s)",
            (key, numbers, since, since),
        )
        return {row["to_number"]: row["id"] for row in await cur.fetchall()}

    async def _insert(
        self,
        cur: Cursor,
        numbers: list[str],
        prepared: PreparedFax,
        origin: Origin,
        key: str | None,
        now: datetime,
    ) -> dict[str, str]:
        batch_id = secrets.token_hex(8)
        left_out = json.dumps([{"name": i.name, "reason": i.reason} for i in prepared.left_out])
        await cur.execute(
            "INSERT INTO batches (id, created, origin, left_out) VALUES (%s, %s, %s, %s)",
            (batch_id, now, origin_to_json(origin), left_out),
        )
        for position, doc in enumerate(prepared.documents, start=1):
            await cur.execute(
                "INSERT INTO documents (batch_id, position, role, name, content_type, pages, size, sha256,"
                " kept) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, TRUE) RETURNING id",
                (
                    batch_id,
                    position,
                    doc.role.value,
                    doc.name,
                    doc.content_type,
                    doc.pages,
                    doc.content.size,
                    doc.content.sha256,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            await write_file(cur, int(row["id"]), doc.content.path)
        envelope = prepared.envelope
        created: dict[str, str] = {}
        for number in numbers:
            job_id = secrets.token_hex(6)
            await cur.execute(
                "INSERT INTO jobs (id, batch_id, state, to_number, created, updated, due_at, cover_index,"
                " cover_page_text, resolution, idempotency_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job_id,
                    batch_id,
                    JobState.QUEUED.value,
                    number,
                    now,
                    now,
                    now,
                    envelope.cover_index,
                    envelope.cover_page_text,
                    envelope.resolution,
                    key,
                ),
            )
            if number in prepared.covers:
                # What the cover says; it is drawn, and its bytes kept, when the fax is sent.
                await cur.execute(
                    "INSERT INTO documents (batch_id, job_id, position, role, name, content_type, pages,"
                    " size, sha256, kept, cover) VALUES (%s, %s, 0, %s, 'cover.pdf', 'application/pdf',"
                    " 1, 0, '', FALSE, %s)",
                    (batch_id, job_id, DocumentRole.COVER.value, sheet_to_json(prepared.covers[number])),
                )
            await self._record(cur, job_id, JobState.RECEIVED, now, None)
            await self._record(cur, job_id, JobState.QUEUED, now, "accepted")
            await self._enqueue_reply(cur, job_id, ReplyKind.ACKNOWLEDGE, now)
            created[number] = job_id
        return created

    async def keep_cover(self, job_id: str, document_id: int, data: bytes) -> Job:
        async def keep(cur: Cursor) -> None:
            await cur.execute(
                "UPDATE documents SET kept = TRUE, size = %s, sha256 = %s WHERE id = %s AND NOT kept",
                (len(data), hashlib.sha256(data).hexdigest(), document_id),
            )
            if cur.rowcount == 1:
                await write_bytes(cur, document_id, data)

        await self._run(keep)
        return await self.get(job_id)

    async def create_rejected(self, *, number: str, origin: Origin, reason: str, now: datetime) -> Job:
        async def insert(cur: Cursor) -> str:
            batch_id, job_id = secrets.token_hex(8), secrets.token_hex(6)
            await cur.execute(
                "INSERT INTO batches (id, created, origin) VALUES (%s, %s, %s)",
                (batch_id, now, origin_to_json(origin)),
            )
            await cur.execute(
                "INSERT INTO jobs (id, batch_id, state, to_number, created, updated, due_at, reason)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (job_id, batch_id, JobState.REJECTED.value, number, now, now, now, reason),
            )
            await self._record(cur, job_id, JobState.RECEIVED, now, None)
            await self._record(cur, job_id, JobState.REJECTED, now, reason)
            return job_id

        job_id = await self._run(insert)
        return await self.get(job_id)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        (job,) = await self._read(lambda cur: self._jobs(cur, [job_id]))
        return job

    async def ids_starting(self, prefix: str, *, limit: int) -> list[str]:
        async def query(cur: Cursor) -> list[str]:
            # A range on the primary key, not LIKE: nothing typed is a wildcard, and the index answers it.
            # COLLATE "C" compares code points, as the ids (hex) and the bound need.
            await cur.execute(
                'SELECT id FROM jobs WHERE id COLLATE "C" >= %s AND id COLLATE "C" < %s'
                ' ORDER BY id COLLATE "C" LIMIT %s',
                (prefix, prefix + "\U0010ffff", limit),
            )
            return [str(row["id"]) for row in await cur.fetchall()]

        return await self._read(query)

    async def list_jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE (%(state)s::text IS NULL OR state = %(state)s)"
            " ORDER BY created DESC, id LIMIT %(limit)s",
            {"state": state.value if state else None, "limit": limit},
        )

    async def jobs_for_key(self, idempotency_key: str) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE idempotency_key = %(key)s ORDER BY created, id",
            {"key": idempotency_key},
        )

    async def _ids_to_jobs(self, sql: str, args: dict[str, Any]) -> list[Job]:
        async def query(cur: Cursor) -> list[Job]:
            await cur.execute(sql.encode(), args)
            return await self._jobs(cur, [row["id"] for row in await cur.fetchall()])

        return await self._read(query)

    async def _jobs(self, cur: Cursor, ids: list[str]) -> list[Job]:
        """Whole jobs, in the order of `ids`, read in three queries whatever their number."""
        if not ids:
            return []
        await cur.execute(
            "SELECT jobs.*, batches.origin, batches.left_out FROM jobs JOIN batches ON batches.id = jobs.batch_id"
            " WHERE jobs.id = ANY(%s)",
            (ids,),
        )
        rows = {row["id"]: row for row in await cur.fetchall()}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise JobNotFound(f"no job {missing[0]}")
        batches = list({row["batch_id"] for row in rows.values()})
        await cur.execute(
            "SELECT id, batch_id, job_id, position, role, name, content_type, pages, size, cover"
            " FROM documents WHERE batch_id = ANY(%s) ORDER BY position, id",
            (batches,),
        )
        docs: dict[str, list[dict[str, Any]]] = {}
        for d in await cur.fetchall():
            docs.setdefault(d["batch_id"], []).append(d)
        await cur.execute(
            "SELECT job_id, state, at, reason FROM transitions WHERE job_id = ANY(%s) ORDER BY id", (ids,)
        )
        history: dict[str, list[dict[str, Any]]] = {}
        for h in await cur.fetchall():
            history.setdefault(h["job_id"], []).append(h)
        return [self._job(rows[i], docs.get(rows[i]["batch_id"], []), history.get(i, [])) for i in ids]

    @staticmethod
    def _job(row: dict[str, Any], docs: list[dict[str, Any]], history: list[dict[str, Any]]) -> Job:
        job_id = row["id"]
        return Job(
            id=job_id,
            state=JobState(row["state"]),
            to=row["to_number"],
            origin=origin_from_json(row["origin"]),
            created=row["created"],
            updated=row["updated"],
            due_at=row["due_at"],
            attempts=row["attempts"],
            provider_id=row["provider_id"],
            reason=row["reason"],
            envelope=Envelope(
                cover_index=row["cover_index"],
                cover_page_text=row["cover_page_text"],
                resolution=row["resolution"],
            ),
            documents=tuple(
                StoredDocument(
                    id=d["id"],
                    name=d["name"],
                    content_type=d["content_type"],
                    pages=d["pages"],
                    size=d["size"],
                    role=DocumentRole(d["role"]),
                    sheet=sheet_from_json(d["cover"]) if d["cover"] else None,
                )
                for d in docs
                if d["job_id"] is None or d["job_id"] == job_id
            ),
            left_out=tuple(LeftOut(name=i["name"], reason=i["reason"]) for i in json.loads(row["left_out"])),
            history=tuple(
                Transition(state=JobState(h["state"]), at=h["at"], reason=h["reason"]) for h in history
            ),
            batch_id=row["batch_id"],
            submit_started_at=row["submit_started_at"],
            settled=bool(row["settled"]),
        )

    def open_document(self, document: StoredDocument) -> BinaryIO:
        try:
            return open_reader(self._readers, document.id, document.name)
        except PoolTimeout as exc:
            raise StoreUnavailable(f"the job store cannot be read: {exc}") from exc
        except (psycopg.OperationalError, OSError) as exc:
            raise DocumentMissing(f"the bytes of {document.name} cannot be read ({exc})") from exc

    # -- state changes ---------------------------------------------------------------------

    async def transition(
        self,
        job_id: str,
        new: JobState,
        *,
        reason: str | None,
        now: datetime,
        due_at: datetime | None = None,
        provider_id: str | None = None,
        expect: JobState | None = None,
        expect_started: datetime | None = None,
        durable: bool = True,
        settle: bool = False,
    ) -> Job:
        async def change(cur: Cursor) -> None:
            # The row lock orders this change after any other instance's on the same job.
            await cur.execute("SELECT state, submit_started_at FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
            row = await cur.fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            step = transitions.plan(
                job_id,
                JobState(row["state"]),
                new,
                reason=reason,
                now=now,
                due_at=due_at,
                provider_id=provider_id,
                expect=expect,
                started=row["submit_started_at"],
                expect_started=expect_started,
                settle=settle,
            )
            await self._apply(cur, job_id, step)
            await self._notify(cur)

        await self._run(change, durable=durable)
        self._changed()
        return await self.get(job_id)

    async def _apply(self, cur: Cursor, job_id: str, step: StateChange) -> None:
        """Write one state change as the core's rule says, with its history line and its notice."""
        sets = ["state = %s", "updated = %s"]
        args: list[Any] = [step.state.value, step.updated]
        if not step.keeps_reason:
            sets.append("reason = %s")
            args.append(step.reason)
        for column, value in (
            ("due_at", step.due_at),
            ("provider_id", step.provider_id),
            ("submit_started_at", step.submit_started_at),
            ("settled", step.settled),
        ):
            if value is not None:
                sets.append(f"{column} = %s")
                args.append(value)
        if step.attempts_added:
            sets.append("attempts = attempts + %s")
            args.append(step.attempts_added)
        if step.claims_added:
            sets.append("claims = claims + %s")
            args.append(step.claims_added)
        if step.provider_id is not None:
            await self._attempt_got(cur, job_id, step.provider_id, step.updated)
        await cur.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = %s".encode(), (*args, job_id))
        await self._record(cur, job_id, step.state, step.updated, step.reason)
        await self._enqueue_reply(cur, job_id, step.reply, step.updated)

    @staticmethod
    async def _attempt_got(cur: Cursor, job_id: str, provider_id: str, now: datetime) -> None:
        """Record the provider id on the job's latest attempt; every attempt keeps its own."""
        await cur.execute(
            "UPDATE attempts SET provider_id = %s WHERE provider_id IS NULL AND id ="
            " (SELECT MAX(id) FROM attempts WHERE job_id = %s)",
            (provider_id, job_id),
        )
        if cur.rowcount == 0:
            await cur.execute(
                "INSERT INTO attempts (job_id, started_at, provider_id) VALUES (%s, %s, %s)",
                (job_id, now, provider_id),
            )

    async def claim_due(
        self, now: datetime, *, lease_until: datetime, only: Collection[str] | None = None
    ) -> Job | None:
        ids = None if only is None else list(only)
        if ids == []:
            return None

        async def claim(cur: Cursor) -> str | None:
            # SKIP LOCKED: instances claiming together each take a different job, none waits. One
            # submission per number at a time, across instances: a job whose number has one open
            # waits, and two instances claiming two jobs of one number at once collide on the
            # unique index jobs_one_submission; the loser runs again and sees the winner's claim.
            await cur.execute(
                "SELECT id FROM jobs j WHERE state = 'queued' AND due_at <= %s AND NOT EXISTS"
                " (SELECT 1 FROM jobs s WHERE s.to_number = j.to_number AND s.state = 'submitting')"
                " AND (%s::text[] IS NULL OR id = ANY(%s))"
                " ORDER BY due_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                (now, ids, ids),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            job_id = str(row["id"])
            # The lease lives in due_at: once it has passed, the submission counts as stale.
            step = transitions.claim(job_id, JobState.QUEUED, now=now, lease_until=lease_until)
            await cur.execute("INSERT INTO attempts (job_id, started_at) VALUES (%s, %s)", (job_id, now))
            await self._apply(cur, job_id, step)
            return job_id

        job_id = await self._run(claim)
        if job_id is None:
            return None
        self._changed()
        return await self.get(job_id)

    async def extend_lease(self, job_id: str, until: datetime) -> None:
        async def extend(cur: Cursor) -> None:
            await cur.execute(
                "UPDATE jobs SET due_at = %s WHERE id = %s AND state = 'submitting'", (until, job_id)
            )

        await self._run(extend)

    async def stale_submissions(self, now: datetime) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE state = 'submitting' AND due_at <= %(now)s ORDER BY due_at",
            {"now": now},
        )

    async def in_flight(self) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE state IN ('submitted', 'sent') AND NOT settled ORDER BY updated", {}
        )

    async def _scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        async def query(cur: Cursor) -> Any:
            await cur.execute(sql.encode(), args)
            row = await cur.fetchone()
            return None if row is None else next(iter(row.values()))

        return await self._read(query)

    async def provider_failures(self, job_id: str) -> int:
        value = await self._scalar("SELECT claims - attempts AS n FROM jobs WHERE id = %s", (job_id,))
        return int(value or 0)

    async def provider_id_taken(self, provider_id: str) -> bool:
        value = await self._scalar(
            "SELECT EXISTS (SELECT 1 FROM attempts WHERE provider_id = %s)"
            " OR EXISTS (SELECT 1 FROM jobs WHERE provider_id = %s) AS taken",
            (provider_id, provider_id),
        )
        return bool(value)

    async def next_due(self) -> datetime | None:
        value = await self._scalar(
            "SELECT LEAST((SELECT MIN(due_at) FROM jobs WHERE state = 'queued'),"
            " (SELECT MIN(due_at) FROM jobs WHERE state = 'submitting')) AS due"
        )
        return value if isinstance(value, datetime) else None

    async def mark_settled(self, job_id: str, *, now: datetime) -> None:
        async def settle(cur: Cursor) -> None:
            await cur.execute("UPDATE jobs SET settled = TRUE, updated = %s WHERE id = %s", (now, job_id))
            await self._enqueue_reply(cur, job_id, ReplyKind.REPORT, now)
            await self._notify(cur)

        await self._run(settle, durable=False)
        self._changed()

    async def counts(self) -> dict[str, int]:
        async def query(cur: Cursor) -> dict[str, int]:
            await cur.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            return {row["state"]: int(row["n"]) for row in await cur.fetchall()}

        return await self._read(query)

    async def oldest_queued(self) -> datetime | None:
        value = await self._scalar("SELECT MIN(created) AS oldest FROM jobs WHERE state = 'queued'")
        return value if isinstance(value, datetime) else None

    # -- replies ---------------------------------------------------------------------------

    @staticmethod
    async def _enqueue_reply(cur: Cursor, job_id: str, kind: ReplyKind, now: datetime) -> None:
        await cur.execute(
            "INSERT INTO replies (job_id, kind, due_at) VALUES (%s, %s, %s)", (job_id, kind.value, now)
        )

    @staticmethod
    async def _record(cur: Cursor, job_id: str, state: JobState, now: datetime, reason: str | None) -> None:
        await cur.execute(
            "INSERT INTO transitions (job_id, state, at, reason) VALUES (%s, %s, %s, %s)",
            (job_id, state.value, now, reason),
        )

    async def pending_replies(self, now: datetime, limit: int = 50) -> list[PendingReply]:
        async def query(cur: Cursor) -> list[PendingReply]:
            await cur.execute(
                "SELECT id, job_id, kind, attempts FROM replies WHERE done_at IS NULL AND due_at <= %s"
                " ORDER BY id LIMIT %s",
                (now, limit),
            )
            return [
                PendingReply(
                    id=r["id"], job_id=r["job_id"], kind=ReplyKind(r["kind"]), attempts=r["attempts"]
                )
                for r in await cur.fetchall()
            ]

        return await self._read(query)

    async def reply_done(self, reply_ids: Sequence[int], *, now: datetime) -> None:
        async def done(cur: Cursor) -> None:
            await cur.execute(
                "UPDATE replies SET done_at = %s, error = NULL WHERE id = ANY(%s)", (now, list(reply_ids))
            )

        await self._run(done, durable=False)

    async def reply_failed(self, reply_ids: Sequence[int], *, retry_at: datetime, error: str) -> None:
        async def failed(cur: Cursor) -> None:
            await cur.execute(
                "UPDATE replies SET attempts = attempts + 1, due_at = %s, error = %s WHERE id = ANY(%s)",
                (retry_at, error[:500], list(reply_ids)),
            )

        await self._run(failed, durable=False)

    async def next_reply_due(self) -> datetime | None:
        value = await self._scalar("SELECT MIN(due_at) AS due FROM replies WHERE done_at IS NULL")
        return value if isinstance(value, datetime) else None

    async def reply_troubles(self, job_id: str) -> list[ReplyTrouble]:
        async def query(cur: Cursor) -> list[ReplyTrouble]:
            await cur.execute(
                "SELECT kind, attempts, due_at, error FROM replies WHERE job_id = %s AND done_at IS NULL"
                " AND attempts > 0 ORDER BY id",
                (job_id,),
            )
            return [
                ReplyTrouble(
                    kind=ReplyKind(r["kind"]),
                    attempts=r["attempts"],
                    retry_at=r["due_at"],
                    error=r["error"] or "",
                )
                for r in await cur.fetchall()
            ]

        return await self._read(query)

    async def failing_replies(self) -> int:
        value = await self._scalar("SELECT COUNT(*) AS n FROM replies WHERE done_at IS NULL AND attempts > 0")
        return int(value or 0)

    # -- status messages -------------------------------------------------------------------

    async def message_of(self, job_id: str) -> tuple[str, str] | None:
        async def query(cur: Cursor) -> tuple[str, str] | None:
            await cur.execute("SELECT channel, message FROM status_messages WHERE job_id = %s", (job_id,))
            row = await cur.fetchone()
            return (str(row["channel"]), str(row["message"])) if row else None

        return await self._read(query)

    async def keep_message(self, job_id: str, channel: str, message: str) -> None:
        async def keep(cur: Cursor) -> None:
            # Bookkeeping that a lost write only costs a second message for: no wait for the flush.
            await cur.execute(
                "INSERT INTO status_messages (job_id, channel, message) VALUES (%s, %s, %s)"
                " ON CONFLICT (job_id) DO UPDATE SET channel = EXCLUDED.channel, message = EXCLUDED.message",
                (job_id, channel, message),
            )

        await self._run(keep, durable=False)

    # -- housekeeping ----------------------------------------------------------------------

    async def remember(self, key: str, *, now: datetime) -> bool:
        async def insert(cur: Cursor) -> bool:
            await cur.execute(
                "INSERT INTO seen_keys (key, at) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, now)
            )
            return cur.rowcount == 1

        return await self._run(insert)

    async def purge_documents(self, before: datetime) -> int:
        async def purge(cur: Cursor) -> int:
            await cur.execute(
                f"SELECT b.id FROM batches b WHERE NOT b.docs_purged AND {_ALL_ENDED} FOR UPDATE SKIP LOCKED",
                {"final": _FINAL, "before": before},
            )
            batches = [row["id"] for row in await cur.fetchall()]
            if not batches:
                return 0
            await cur.execute(
                "DELETE FROM document_chunks WHERE document_id IN"
                " (SELECT id FROM documents WHERE batch_id = ANY(%s))",
                (batches,),
            )
            await cur.execute(
                "UPDATE documents SET kept = FALSE WHERE batch_id = ANY(%s) AND kept", (batches,)
            )
            gone = cur.rowcount
            await cur.execute("UPDATE batches SET docs_purged = TRUE WHERE id = ANY(%s)", (batches,))
            return gone

        return await self._run(purge)

    async def purge_records(self, before: datetime) -> int:
        async def purge(cur: Cursor) -> int:
            # Whole requests only, once their documents are gone and every job of it ended before
            # the cutoff: a job's history goes with the job, never before it.
            await cur.execute(
                f"SELECT b.id FROM batches b WHERE b.docs_purged AND {_ALL_ENDED} FOR UPDATE SKIP LOCKED",
                {"final": _FINAL, "before": before},
            )
            batches = [row["id"] for row in await cur.fetchall()]
            jobs = 0
            if batches:
                await cur.execute("SELECT id FROM jobs WHERE batch_id = ANY(%s)", (batches,))
                ids = [row["id"] for row in await cur.fetchall()]
                for table in ("transitions", "replies", "attempts", "status_messages"):
                    await cur.execute(f"DELETE FROM {table} WHERE job_id = ANY(%s)".encode(), (ids,))
                await cur.execute("DELETE FROM documents WHERE batch_id = ANY(%s)", (batches,))
                await cur.execute("DELETE FROM jobs WHERE batch_id = ANY(%s)", (batches,))
                await cur.execute("DELETE FROM batches WHERE id = ANY(%s)", (batches,))
                jobs = len(ids)
            await cur.execute("DELETE FROM replies WHERE done_at IS NOT NULL AND done_at < %s", (before,))
            await cur.execute("DELETE FROM seen_keys WHERE at < %s", (before,))
            return jobs

        return await self._run(purge, durable=False)

    async def describe(self) -> str:
        """The server's version and the schema's, for `faxbridge check`."""
        version = await self._scalar("SHOW server_version")
        schema = await self._scalar("SELECT MAX(version) FROM schema_version")
        return f" (PostgreSQL {version}, schema version {schema} of {len(MIGRATIONS)})"

    async def ping(self) -> None:
        await self._scalar("SELECT 1 AS one")
