"""SqliteJobStore: every store port (jobs, outbox, seen keys, documents, status messages) on SQLite (WAL, synchronous=FULL) with a file spool."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from adapters.sqlite.codec import sheet_from_json, sheet_to_json
from adapters.sqlite.schema import migrate
from adapters.sqlite.spool import Spool
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
from bridge.privacy import create_private_file, make_private_dir
from bridge.spooling import scratch_root, sweep_scratch
from bridge.states import FINAL_STATES, JobState
from bridge.transitions import StateChange

T = TypeVar("T")
# Above every character an id can hold: `id < prefix + _HIGHEST` ends the range of ids starting with prefix.
_HIGHEST = "\U0010ffff"
_FINAL = tuple(s.value for s in FINAL_STATES)
# A batch (alias b) whose every job has ended (final, or sent and settled) before a cutoff.
_ALL_ENDED = (
    "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id AND ((j.state NOT IN"
    f" ({','.join('?' * len(_FINAL))}) AND NOT (j.state = ? AND j.settled = 1)) OR j.updated >= ?))"
)


def _ended_args(before: datetime) -> tuple[Any, ...]:
    return (*_FINAL, JobState.SENT.value, before.timestamp())


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A store task whose caller was cancelled still ends; its error has then been handled inside.
    if not task.cancelled():
        task.exception()


class SqliteJobStore:
    """Jobs in SQLite; every write is one fsynced transaction, run on one worker thread."""

    def __init__(self, database: Path, spool_dir: Path) -> None:
        self.database = database
        self.spool = Spool(spool_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faxbridge-store")
        # Spool files are synced here, several at once, never on the loop's default pool (which
        # other work could fill) nor on the single database thread.
        self._files = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faxbridge-spool")
        self._conn: sqlite3.Connection | None = None
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (in the event loop) after every write that may owe someone a notice."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        # Documents people fax live here: private to the bridge's user. SQLite gives the -wal and
        # -shm files the database file's mode, so creating that one 0600 makes all three private.
        make_private_dir(self.database.parent)
        self.spool.prepare()
        create_private_file(self.database)
        sweep_scratch(scratch_root(self.spool.root))
        conn = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns; this is what makes "250" and "queued" true.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
        self._files.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise StoreUnavailable(f"the job store cannot be written: {exc}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("the job store is not open")
        return self._conn

    def _tx(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run `fn` in one transaction. Durable ones are fsynced at commit; the others (bookkeeping
        that can be redone, like a status already reported or a notice already delivered) survive
        a crash of the process but not of the machine, and cost no fsync."""
        conn = self.conn
        if not durable:
            conn.execute("PRAGMA synchronous=NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                # Whatever failed (the work or the commit itself), nothing of it stays.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous=FULL")
        return result

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
        wanted, key = list(numbers), idempotency_key
        # Once the files are being linked and the rows committed, a cancelled caller (an SMTP client
        # that hung up) must not interrupt it half-way: the work runs on, and only what is known
        # not to have been committed is ever removed. A repeated request is found inside the
        # transaction (its files, linked for nothing, are removed again: re-deliveries are rare).
        storing = asyncio.ensure_future(self._store_jobs(wanted, key, key_since, prepared, origin, now))
        storing.add_done_callback(_retrieve)
        ids, duplicate, acceptance = await asyncio.shield(storing)
        self._changed()
        if acceptance is None:
            acceptance = await self._run(self._acceptance, wanted, ids, duplicate)
        return acceptance

    async def _store_jobs(
        self,
        numbers: list[str],
        key: str | None,
        key_since: datetime | None,
        prepared: PreparedFax,
        origin: Origin,
        now: datetime,
    ) -> tuple[dict[str, str], bool, Acceptance | None]:
        # Bytes first, synced with their directory entries; only then the rows that point at them
        # (durability rule 1 of docs/architecture.md). Several files are synced at once, on the spool's
        # own threads.
        loop = asyncio.get_running_loop()
        adopting = [
            loop.run_in_executor(self._files, self.spool.adopt, doc.content.path)
            for doc in prepared.documents
        ]
        results = await asyncio.gather(*adopting, return_exceptions=True)
        names = [r for r in results if isinstance(r, str)]
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            await loop.run_in_executor(self._files, self._unspool, names)
            if isinstance(failure, OSError):
                raise StoreUnavailable(
                    f"the document spool cannot be written: {failure.strerror}"
                ) from failure
            raise failure
        try:
            ids, duplicate, acceptance = await self._run(
                self._commit_jobs, numbers, key, key_since, prepared, origin, now, names
            )
        except BaseException:
            # The transaction was rolled back (or never began): nothing refers to these names.
            await loop.run_in_executor(self._files, self._unspool, names)
            raise
        if duplicate:
            await loop.run_in_executor(self._files, self._unspool, names)
        return ids, duplicate, acceptance

    def _unspool(self, names: list[str]) -> None:
        for name in names:
            self.spool.remove(name)

    def _commit_jobs(
        self,
        numbers: list[str],
        key: str | None,
        key_since: datetime | None,
        prepared: PreparedFax,
        origin: Origin,
        now: datetime,
        names: list[str],
    ) -> tuple[dict[str, str], bool, Acceptance | None]:
        def insert(conn: sqlite3.Connection) -> tuple[dict[str, str], bool]:
            # Checked again inside the transaction: the same request may have been stored meanwhile.
            existing = self._existing(key, numbers, key_since) if key else {}
            missing = [n for n in numbers if n not in existing]
            if not missing:
                return existing, True
            if key and key_since is not None:
                # The same key past its time is a new request: the old job lets go of it.
                marks = ",".join("?" * len(missing))
                conn.execute(
                    f"UPDATE jobs SET idempotency_key = NULL WHERE idempotency_key = ? AND created < ?"
                    f" AND to_number IN ({marks})",
                    (key, _ts(key_since), *missing),
                )
            return {**existing, **self._insert(conn, missing, prepared, origin, key, now, names)}, False

        ids, duplicate = self._tx(insert)
        # Read back on the same trip. The rows are committed now: a failure to read them must not
        # look like a failed commit (the caller would remove committed files), so it reads again.
        try:
            acceptance: Acceptance | None = self._acceptance(numbers, ids, duplicate)
        except sqlite3.Error:
            acceptance = None
        return ids, duplicate, acceptance

    def _acceptance(self, numbers: list[str], ids: dict[str, str], duplicate: bool) -> Acceptance:
        return Acceptance(jobs=tuple(self._job(ids[n]) for n in numbers), duplicate=duplicate)

    def _existing(self, key: str, numbers: list[str], since: datetime | None) -> dict[str, str]:
        marks = ",".join("?" * len(numbers))
        rows = self.conn.execute(
            f"SELECT id, to_number FROM jobs WHERE idempotency_key = ? AND to_number IN ({marks})"
            " AND created >= ?",
            (key, *numbers, _ts(since) if since is not None else float("-inf")),
        ).fetchall()
        return {row["to_number"]: row["id"] for row in rows}

    def _insert(
        self,
        conn: sqlite3.Connection,
        numbers: list[str],
        prepared: PreparedFax,
        origin: Origin,
        key: str | None,
        now: datetime,
        names: list[str],
    ) -> dict[str, str]:
        batch_id = secrets.token_hex(8)
        left_out = json.dumps([{"name": i.name, "reason": i.reason} for i in prepared.left_out])
        conn.execute(
            "INSERT INTO batches (id, created, origin, left_out) VALUES (?, ?, ?, ?)",
            (batch_id, _ts(now), origin_to_json(origin), left_out),
        )
        for position, (doc, spool_name) in enumerate(zip(prepared.documents, names, strict=True), start=1):
            conn.execute(
                "INSERT INTO documents (batch_id, job_id, position, role, name, content_type, pages, size,"
                " sha256, spool_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    None,
                    position,
                    doc.role.value,
                    doc.name,
                    doc.content_type,
                    doc.pages,
                    doc.content.size,
                    doc.content.sha256,
                    spool_name,
                ),
            )
        envelope = prepared.envelope
        created: dict[str, str] = {}
        for number in numbers:
            job_id = secrets.token_hex(6)
            conn.execute(
                "INSERT INTO jobs (id, batch_id, state, to_number, created, updated, due_at, cover_index,"
                " cover_page_text, resolution, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    batch_id,
                    JobState.QUEUED.value,
                    number,
                    _ts(now),
                    _ts(now),
                    _ts(now),
                    envelope.cover_index,
                    envelope.cover_page_text,
                    envelope.resolution,
                    key,
                ),
            )
            if number in prepared.covers:
                # What the cover says; it is drawn, and its bytes kept, when the fax is sent.
                conn.execute(
                    "INSERT INTO documents (batch_id, job_id, position, role, name, content_type, pages,"
                    " size, sha256, spool_name, cover) VALUES (?, ?, 0, ?, 'cover.pdf', 'application/pdf',"
                    " 1, 0, '', NULL, ?)",
                    (batch_id, job_id, DocumentRole.COVER.value, sheet_to_json(prepared.covers[number])),
                )
            self._record(conn, job_id, JobState.RECEIVED, now, None)
            self._record(conn, job_id, JobState.QUEUED, now, "accepted")
            self._enqueue_reply(conn, job_id, ReplyKind.ACKNOWLEDGE, now)
            created[number] = job_id
        return created

    async def keep_cover(self, job_id: str, document_id: int, data: bytes) -> Job:
        loop = asyncio.get_running_loop()
        try:
            name = await loop.run_in_executor(self._files, self.spool.write, data)
        except OSError as exc:
            raise StoreUnavailable(f"the document spool cannot be written: {exc.strerror}") from exc

        def keep(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE documents SET spool_name = ?, size = ?, sha256 = ? WHERE id = ? AND spool_name IS NULL",
                (name, len(data), hashlib.sha256(data).hexdigest(), document_id),
            )
            return cursor.rowcount == 1

        try:
            kept = await self._run(self._tx, keep)
        except BaseException:
            await loop.run_in_executor(self._files, self.spool.remove, name)
            raise
        if not kept:
            await loop.run_in_executor(self._files, self.spool.remove, name)
        return await self._run(self._job, job_id)

    async def create_rejected(self, *, number: str, origin: Origin, reason: str, now: datetime) -> Job:
        def insert(conn: sqlite3.Connection) -> str:
            batch_id, job_id = secrets.token_hex(8), secrets.token_hex(6)
            conn.execute(
                "INSERT INTO batches (id, created, origin) VALUES (?, ?, ?)",
                (batch_id, _ts(now), origin_to_json(origin)),
            )
            conn.execute(
                "INSERT INTO jobs (id, batch_id, state, to_number, created, updated, due_at, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, batch_id, JobState.REJECTED.value, number, _ts(now), _ts(now), _ts(now), reason),
            )
            self._record(conn, job_id, JobState.RECEIVED, now, None)
            self._record(conn, job_id, JobState.REJECTED, now, reason)
            return job_id

        return await self._run(lambda: self._job(self._tx(insert)))

    # -- reading ---------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        return await self._run(self._job, job_id)

    async def ids_starting(self, prefix: str, *, limit: int) -> list[str]:
        # A range on the primary key, not LIKE: nothing typed is a wildcard, and the index answers it.
        rows = await self._run(
            lambda: self.conn.execute(
                "SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                (prefix, prefix + _HIGHEST, limit),
            ).fetchall()
        )
        return [str(row["id"]) for row in rows]

    async def list_jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        def query() -> list[Job]:
            sql = "SELECT id FROM jobs"
            args: tuple[Any, ...] = ()
            if state is not None:
                sql += " WHERE state = ?"
                args = (state.value,)
            rows = self.conn.execute(sql + " ORDER BY created DESC, id LIMIT ?", (*args, limit)).fetchall()
            return [self._job(row["id"]) for row in rows]

        return await self._run(query)

    async def jobs_for_key(self, idempotency_key: str) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE idempotency_key = ? ORDER BY created, id", (idempotency_key,)
        )

    def _job(self, job_id: str) -> Job:
        conn = self.conn
        row = conn.execute(
            "SELECT jobs.*, batches.origin, batches.left_out FROM jobs JOIN batches ON batches.id = jobs.batch_id"
            " WHERE jobs.id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        docs = conn.execute(
            "SELECT * FROM documents WHERE batch_id = ? AND (job_id IS NULL OR job_id = ?) ORDER BY position",
            (row["batch_id"], job_id),
        ).fetchall()
        history = conn.execute(
            "SELECT state, at, reason FROM transitions WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall()
        return Job(
            id=row["id"],
            state=JobState(row["state"]),
            to=row["to_number"],
            origin=origin_from_json(row["origin"]),
            created=_dt(row["created"]) or datetime.now(UTC),
            updated=_dt(row["updated"]) or datetime.now(UTC),
            due_at=_dt(row["due_at"]) or datetime.now(UTC),
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
            ),
            left_out=tuple(LeftOut(name=i["name"], reason=i["reason"]) for i in json.loads(row["left_out"])),
            history=tuple(
                Transition(
                    state=JobState(h["state"]), at=_dt(h["at"]) or datetime.now(UTC), reason=h["reason"]
                )
                for h in history
            ),
            batch_id=row["batch_id"],
            submit_started_at=_dt(row["submit_started_at"]),
            settled=bool(row["settled"]),
        )

    def open_document(self, document: StoredDocument) -> BinaryIO:
        row = self.conn.execute("SELECT spool_name FROM documents WHERE id = ?", (document.id,)).fetchone()
        if row is None or row["spool_name"] is None:
            raise DocumentMissing(f"the bytes of {document.name} are no longer kept")
        try:
            return self.spool.open(row["spool_name"])
        except OSError as exc:
            raise DocumentMissing(
                f"the bytes of {document.name} are missing from the spool ({exc.strerror})"
            ) from exc

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
        durable: bool = True,
        settle: bool = False,
    ) -> Job:
        def change(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
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
                settle=settle,
            )
            self._apply(conn, job_id, step)

        job = await self._run(lambda: (self._tx(change, durable=durable), self._job(job_id))[1])
        self._changed()
        return job

    def _apply(self, conn: sqlite3.Connection, job_id: str, step: StateChange) -> None:
        """Write one state change as the core's rule says, with its history line and its notice."""
        sets = ["state = ?", "updated = ?"]
        args: list[Any] = [step.state.value, _ts(step.updated)]
        if not step.keeps_reason:
            sets.append("reason = ?")
            args.append(step.reason)
        for column, value in (
            ("due_at", step.due_at and _ts(step.due_at)),
            ("provider_id", step.provider_id),
            ("submit_started_at", step.submit_started_at and _ts(step.submit_started_at)),
            ("settled", None if step.settled is None else int(step.settled)),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if step.attempts_added:
            sets.append("attempts = attempts + ?")
            args.append(step.attempts_added)
        if step.claims_added:
            sets.append("claims = claims + ?")
            args.append(step.claims_added)
        if step.provider_id is not None:
            self._attempt_got(conn, job_id, step.provider_id, step.updated)
        conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))
        self._record(conn, job_id, step.state, step.updated, step.reason)
        self._enqueue_reply(conn, job_id, step.reply, step.updated)

    @staticmethod
    def _attempt_got(conn: sqlite3.Connection, job_id: str, provider_id: str, now: datetime) -> None:
        """Record the provider id on the job's latest attempt; every attempt keeps its own."""
        updated = conn.execute(
            "UPDATE attempts SET provider_id = ? WHERE provider_id IS NULL AND id ="
            " (SELECT MAX(id) FROM attempts WHERE job_id = ?)",
            (provider_id, job_id),
        )
        if updated.rowcount == 0:
            conn.execute(
                "INSERT INTO attempts (job_id, started_at, provider_id) VALUES (?, ?, ?)",
                (job_id, _ts(now), provider_id),
            )

    async def claim_due(
        self, now: datetime, *, lease_until: datetime, only: Collection[str] | None = None
    ) -> Job | None:
        ids = None if only is None else tuple(only)
        if ids == ():
            return None
        among = "" if ids is None else f" AND id IN ({', '.join('?' * len(ids))})"

        def claim(conn: sqlite3.Connection) -> str | None:
            # One submission per number at a time: a submission whose answer is lost can then be told
            # apart from any other fax to that number when it is reconciled (and a fax machine can
            # only take one call anyway).
            row = conn.execute(
                "SELECT id FROM jobs WHERE state = ? AND due_at <= ? AND to_number NOT IN"
                f" (SELECT to_number FROM jobs WHERE state = ?){among} ORDER BY due_at, rowid LIMIT 1",
                (JobState.QUEUED.value, _ts(now), JobState.SUBMITTING.value, *(ids or ())),
            ).fetchone()
            if row is None:
                return None
            # The lease lives in due_at: once it has passed, the submission counts as stale.
            step = transitions.claim(row["id"], JobState.QUEUED, now=now, lease_until=lease_until)
            conn.execute("INSERT INTO attempts (job_id, started_at) VALUES (?, ?)", (row["id"], _ts(now)))
            self._apply(conn, row["id"], step)
            return str(row["id"])

        def run() -> Job | None:
            job_id = self._tx(claim)
            return None if job_id is None else self._job(job_id)

        job = await self._run(run)
        if job is not None:
            self._changed()
        return job

    async def extend_lease(self, job_id: str, until: datetime) -> None:
        await self._run(
            lambda: self._tx(
                lambda conn: conn.execute(
                    "UPDATE jobs SET due_at = ? WHERE id = ? AND state = ?",
                    (_ts(until), job_id, JobState.SUBMITTING.value),
                )
            )
        )

    async def stale_submissions(self, now: datetime) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE state = ? AND due_at <= ? ORDER BY due_at",
            (JobState.SUBMITTING.value, _ts(now)),
        )

    async def in_flight(self) -> list[Job]:
        return await self._ids_to_jobs(
            "SELECT id FROM jobs WHERE state IN (?, ?) AND settled = 0 ORDER BY updated",
            (JobState.SUBMITTED.value, JobState.SENT.value),
        )

    async def provider_failures(self, job_id: str) -> int:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT claims - attempts AS n FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        )
        return int(row["n"]) if row else 0

    async def provider_id_taken(self, provider_id: str) -> bool:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT 1 FROM attempts WHERE provider_id = ? UNION ALL"
                " SELECT 1 FROM jobs WHERE provider_id = ? LIMIT 1",
                (provider_id, provider_id),
            ).fetchone()
        )
        return row is not None

    async def _ids_to_jobs(self, sql: str, args: tuple[Any, ...]) -> list[Job]:
        def query() -> list[Job]:
            return [self._job(row["id"]) for row in self.conn.execute(sql, args).fetchall()]

        return await self._run(query)

    async def next_due(self) -> datetime | None:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT MIN(due_at) AS due FROM jobs WHERE state IN (?, ?)",
                (JobState.QUEUED.value, JobState.SUBMITTING.value),
            ).fetchone()
        )
        return _dt(row["due"]) if row else None

    async def mark_settled(self, job_id: str, *, now: datetime) -> None:
        def settle(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE jobs SET settled = 1, updated = ? WHERE id = ?", (_ts(now), job_id))
            self._enqueue_reply(conn, job_id, ReplyKind.REPORT, now)

        await self._run(functools.partial(self._tx, settle, durable=False))
        self._changed()

    async def counts(self) -> dict[str, int]:
        rows = await self._run(
            lambda: self.conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        )
        return {row["state"]: row["n"] for row in rows}

    async def oldest_queued(self) -> datetime | None:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT MIN(created) AS oldest FROM jobs WHERE state = ?", (JobState.QUEUED.value,)
            ).fetchone()
        )
        return _dt(row["oldest"]) if row else None

    # -- replies ---------------------------------------------------------------------------

    @staticmethod
    def _enqueue_reply(conn: sqlite3.Connection, job_id: str, kind: ReplyKind, now: datetime) -> None:
        conn.execute(
            "INSERT INTO replies (job_id, kind, due_at) VALUES (?, ?, ?)", (job_id, kind.value, _ts(now))
        )

    @staticmethod
    def _record(
        conn: sqlite3.Connection, job_id: str, state: JobState, now: datetime, reason: str | None
    ) -> None:
        conn.execute(
            "INSERT INTO transitions (job_id, state, at, reason) VALUES (?, ?, ?, ?)",
            (job_id, state.value, _ts(now), reason),
        )

    async def pending_replies(self, now: datetime, limit: int = 50) -> list[PendingReply]:
        rows = await self._run(
            lambda: self.conn.execute(
                "SELECT id, job_id, kind, attempts FROM replies WHERE done_at IS NULL AND due_at <= ?"
                " ORDER BY id LIMIT ?",
                (_ts(now), limit),
            ).fetchall()
        )
        return [
            PendingReply(id=r["id"], job_id=r["job_id"], kind=ReplyKind(r["kind"]), attempts=r["attempts"])
            for r in rows
        ]

    async def reply_done(self, reply_ids: Sequence[int], *, now: datetime) -> None:
        ids = list(reply_ids)
        await self._run(
            functools.partial(self._tx, durable=False),
            lambda conn: conn.executemany(
                "UPDATE replies SET done_at = ?, error = NULL WHERE id = ?", [(_ts(now), i) for i in ids]
            ),
        )

    async def reply_failed(self, reply_ids: Sequence[int], *, retry_at: datetime, error: str) -> None:
        ids = list(reply_ids)
        await self._run(
            functools.partial(self._tx, durable=False),
            lambda conn: conn.executemany(
                "UPDATE replies SET attempts = attempts + 1, due_at = ?, error = ? WHERE id = ?",
                [(_ts(retry_at), error[:500], i) for i in ids],
            ),
        )

    async def next_reply_due(self) -> datetime | None:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT MIN(due_at) AS due FROM replies WHERE done_at IS NULL"
            ).fetchone()
        )
        return _dt(row["due"]) if row else None

    async def reply_troubles(self, job_id: str) -> list[ReplyTrouble]:
        rows = await self._run(
            lambda: self.conn.execute(
                "SELECT kind, attempts, due_at, error FROM replies WHERE job_id = ? AND done_at IS NULL"
                " AND attempts > 0 ORDER BY id",
                (job_id,),
            ).fetchall()
        )
        return [
            ReplyTrouble(
                kind=ReplyKind(r["kind"]),
                attempts=r["attempts"],
                retry_at=_dt(r["due_at"]) or datetime.now(UTC),
                error=r["error"] or "",
            )
            for r in rows
        ]

    async def failing_replies(self) -> int:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT COUNT(*) AS n FROM replies WHERE done_at IS NULL AND attempts > 0"
            ).fetchone()
        )
        return int(row["n"])

    # -- status messages -------------------------------------------------------------------

    async def message_of(self, job_id: str) -> tuple[str, str] | None:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT channel, message FROM status_messages WHERE job_id = ?", (job_id,)
            ).fetchone()
        )
        return (str(row["channel"]), str(row["message"])) if row else None

    async def keep_message(self, job_id: str, channel: str, message: str) -> None:
        # Bookkeeping that a lost write only costs a second message for: no fsync.
        await self._run(
            functools.partial(self._tx, durable=False),
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO status_messages (job_id, channel, message) VALUES (?, ?, ?)",
                (job_id, channel, message),
            ),
        )

    # -- housekeeping ----------------------------------------------------------------------

    async def remember(self, key: str, *, now: datetime) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute("INSERT OR IGNORE INTO seen_keys (key, at) VALUES (?, ?)", (key, _ts(now)))
            return cursor.rowcount == 1

        return await self._run(self._tx, insert)

    async def purge_documents(self, before: datetime) -> int:
        def find(conn: sqlite3.Connection) -> list[tuple[str, list[str]]]:
            batches = conn.execute(
                f"SELECT b.id FROM batches b WHERE b.docs_purged = 0 AND {_ALL_ENDED}", _ended_args(before)
            ).fetchall()
            found = []
            for batch in batches:
                names = [
                    r["spool_name"]
                    for r in conn.execute(
                        "SELECT spool_name FROM documents WHERE batch_id = ? AND spool_name IS NOT NULL",
                        (batch["id"],),
                    )
                ]
                conn.execute("UPDATE documents SET spool_name = NULL WHERE batch_id = ?", (batch["id"],))
                conn.execute("UPDATE batches SET docs_purged = 1 WHERE id = ?", (batch["id"],))
                found.append((batch["id"], names))
            return found

        def run() -> int:
            purged = self._tx(find)
            # Rows first, then files: a crash in between leaves only unreferenced files behind.
            for _, names in purged:
                for name in names:
                    self.spool.remove(name)
            return sum(len(names) for _, names in purged)

        return await self._run(run)

    async def purge_records(self, before: datetime) -> int:
        cutoff = _ts(before)

        def purge(conn: sqlite3.Connection) -> int:
            # Whole requests only, once their documents are gone and every job of it ended before
            # the cutoff: a job's history goes with the job, never before it.
            batches = [
                r["id"]
                for r in conn.execute(
                    f"SELECT b.id FROM batches b WHERE b.docs_purged = 1 AND {_ALL_ENDED}",
                    _ended_args(before),
                )
            ]
            jobs = 0
            for batch_id in batches:
                ids = [r["id"] for r in conn.execute("SELECT id FROM jobs WHERE batch_id = ?", (batch_id,))]
                for table in ("transitions", "replies", "attempts", "status_messages"):
                    conn.executemany(f"DELETE FROM {table} WHERE job_id = ?", [(i,) for i in ids])
                conn.execute("DELETE FROM documents WHERE batch_id = ?", (batch_id,))
                conn.execute("DELETE FROM jobs WHERE batch_id = ?", (batch_id,))
                conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
                jobs += len(ids)
            conn.execute("DELETE FROM replies WHERE done_at IS NOT NULL AND done_at < ?", (cutoff,))
            conn.execute("DELETE FROM seen_keys WHERE at < ?", (cutoff,))
            # Messages of jobs gone by other ways (rows brought over from an older, separate book).
            conn.execute("DELETE FROM status_messages WHERE job_id NOT IN (SELECT id FROM jobs)")
            return jobs

        return await self._run(functools.partial(self._tx, purge, durable=False))

    async def ping(self) -> None:
        await self._run(lambda: self.conn.execute("SELECT 1").fetchone())
