"""Connections to the embedded SQLite file: one writer, one reader, a worker process for long
reads (reports), and the migrations runner."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.context
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

MIGRATIONS = Path(__file__).parent / "migrations"
Row = sqlite3.Row
Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The numbered SQL files in server/migrations, in order."""
    found = []
    for entry in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"):
        found.append(Migration(int(entry.name[:4]), entry.name, entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


class StoreUnavailable(Exception):
    """The database cannot take a write now (locked by another process past the busy
    timeout, a full disk, a read-only or vanished file): nothing was stored, try later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


# SQLite's primary result codes that say "the store, not the statement": a client may retry
# the same request later. Locks clear in seconds; a full or read-only disk needs an operator.
_UNAVAILABLE = {
    5: ("the database is locked by another process", 5),  # SQLITE_BUSY
    6: ("the database is locked", 5),  # SQLITE_LOCKED
    8: ("the database is read-only", 60),  # SQLITE_READONLY
    10: ("the database's disk reported an error", 60),  # SQLITE_IOERR
    13: ("the database's disk is full", 60),  # SQLITE_FULL
    14: ("the database file cannot be opened", 60),  # SQLITE_CANTOPEN
}


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """The StoreUnavailable this SQLite error means, or None for any other error."""
    if isinstance(exc, StoreUnavailable):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None or code & 0xFF not in _UNAVAILABLE:
        return None
    reason, retry_after = _UNAVAILABLE[code & 0xFF]
    return StoreUnavailable(f"{reason} ({exc})", retry_after)


def _pragmas(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout=5000")


def _connect_sync(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    _pragmas(conn, "FULL")
    return conn


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(path: str) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; return their names."""
    done: list[str] = []
    with closing(_connect_sync(path)) as conn:
        applied = applied_versions(conn)
        for migration in available_migrations():
            if migration.version in applied:
                continue
            script = (
                "BEGIN;\n"
                + migration.sql
                + "\nINSERT INTO schema_migrations (version, name, applied_at) VALUES "
                + f"({migration.version}, '{migration.name}', {int(time.time())});\nCOMMIT;"
            )
            try:
                conn.executescript(script)
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            done.append(migration.name)
    return done


def check_writable(path: str) -> None:
    """Raise (OSError or sqlite3.Error) unless the database opens and takes a write: a write
    of a page that is then rolled back, so a read-only file fails here, not at the first
    answer."""
    with closing(_connect_sync(path)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version={int(version)}")
        finally:
            conn.execute("ROLLBACK")


def startup_problem(path: str) -> str | None:
    """Why a server could not use this database (no folder, unreadable, read-only), or None."""
    try:
        check_writable(path)
    except (OSError, sqlite3.Error) as exc:
        return str(exc)
    return None


def instance_secret(path: str, name: str, nbytes: int = 32) -> str:
    """A secret kept in the database, created on first use (so no secret has to be configured)."""
    with closing(_connect_sync(path)) as conn:
        conn.execute(
            "INSERT INTO instance_secrets (name, value, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING",
            (name, secrets.token_urlsafe(nbytes), int(time.time())),
        )
        row = conn.execute("SELECT value FROM instance_secrets WHERE name = ?", (name,)).fetchone()
    return str(row[0])


class Database:
    """The app's connections: writes are serialised through one writer; reads use another."""

    # A write that failed for the store's sake counts against /healthz this long, unless a
    # later write succeeds: a full disk shows only when something is written.
    FAILURE_SHOWS_SECONDS = 60.0

    def __init__(self, path: str, synchronous: str = "FULL", busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.write_failure: tuple[float, str] | None = None
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self.reports = ReadPool(path)

    async def open(self) -> None:
        self._writer = await self._connect()
        self._reader = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return conn

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None
        self.reports.close()

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Writer]:
        """One write transaction; it has committed when the block exits without error, and
        left nothing behind when it did not. A failing store raises StoreUnavailable."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._write_lock:
            conn = self._writer
            with self._store_errors():
                # IMMEDIATE takes the write lock up front, so a CLI writing beside a running
                # server waits on busy_timeout instead of failing half-way through.
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Writer(conn)
                    await conn.execute("COMMIT")
                finally:
                    # Also after a failed COMMIT (a full disk), which leaves it open; SQLite
                    # may have rolled back by itself already.
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")

    async def write(self, sql: str, params: Params = ()) -> list[Row]:
        """One statement as its own transaction, committed when this returns; its rows
        (from RETURNING). One trip to the writer's thread: the cheapest durable write."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        with self._store_errors():
            if self._write_lock.locked():
                # Another coroutine's transaction is open on the writer: queued now, this
                # statement would run inside it.
                async with self._write_lock:
                    return list(await self._writer.execute_fetchall(sql, params))
            # No lock needed: the writer's thread runs statements in the order they are
            # queued, and execute_fetchall queues before it first yields, so no transaction
            # can open in between. Not holding the lock across the trip lets concurrent
            # writes queue up behind each other instead of waiting for the event loop
            # between them.
            return list(await self._writer.execute_fetchall(sql, params))

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """SQLite errors of the store (not of the statement) as StoreUnavailable, noted for
        /healthz; a write that gets through clears the note."""
        try:
            yield
        except sqlite3.Error as exc:
            failure = unavailable(exc)
            if failure is None:
                raise
            self.write_failure = (time.monotonic(), failure.reason)
            raise failure from exc
        self.write_failure = None

    async def write_problem(self) -> str | None:
        """Why the store cannot take a write now, or None: a probe that takes the write lock
        (briefly; a lock held elsewhere fails it fast) and writes a page it then rolls back,
        plus a recent write's failure (a full disk shows only when a write needs room)."""
        if self.write_failure is not None:
            at, reason = self.write_failure
            if time.monotonic() - at < self.FAILURE_SHOWS_SECONDS:
                return reason
        if self._writer is None:
            return "the database is not open"
        conn = self._writer
        try:
            async with self._write_lock:
                await conn.execute(f"PRAGMA busy_timeout={min(250, self.busy_timeout_ms)}")
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    try:
                        version = await conn.execute_fetchall("PRAGMA user_version")
                        await conn.execute(f"PRAGMA user_version={int(next(iter(version))[0])}")
                    finally:
                        await conn.execute("ROLLBACK")
                finally:
                    await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        except sqlite3.Error as exc:
            failure = unavailable(exc)
            return failure.reason if failure else str(exc)
        return None

    # execute_fetchall runs, fetches and finishes the statement in one trip to the
    # connection's thread, and leaves no cursor open (see the field notes on cursors).
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.reader.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.reader.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]


class Writer:
    """The writer connection inside one transaction; every cursor is closed after use."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> tuple[int, int | None]:
        """Run one statement; return (rows changed, last row id)."""
        async with self._conn.execute(sql, params) as cur:
            return cur.rowcount, cur.lastrowid

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return next(iter(await self._conn.execute_fetchall(sql, params)), None)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of one statement (a SELECT, or a write's RETURNING), in one trip."""
        return list(await self._conn.execute_fetchall(sql, params))


class ReadPool:
    """Long reads (reports) run in a separate worker process, on read-only connections of its
    own: their queries and pandas work share neither the writer, nor the reader the request
    path uses, nor the interpreter lock with the event loop that stores answers. (With the
    reports in a thread of the server process, answer ingest p99 grew about threefold while
    four clients loaded dashboards; in another process it stayed as it was: docs/performance.md.)
    One worker, shared by every Database of the process; each call is one read transaction.
    `work` must be a module-level function and its arguments picklable."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """work(connection, *args) in the worker process, inside one read transaction."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_worker(), _work, self.path, work, args)
        except BrokenProcessPool:
            _restart_worker()
            return await loop.run_in_executor(_worker(), _work, self.path, work, args)

    def close(self) -> None:
        """Nothing to close here: the worker keeps a connection per file until it ends."""


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _worker() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=_DaemonContext(),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
        return _pool


class _DaemonProcess(multiprocessing.context.SpawnProcess):
    # Granian's worker is itself a multiprocessing child: it ends through multiprocessing's
    # exit function, which runs no atexit handler (so the executor is never shut down) and
    # waits for every non-daemon child. A daemon worker is ended there instead of waited for.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.daemon = True


class _DaemonContext(multiprocessing.context.SpawnContext):
    Process = _DaemonProcess


def _restart_worker() -> None:
    """Stop the worker (a new one starts with the next report)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _watch_parent(parent: int) -> None:
    """In the worker: end when the server process is gone, however it ended."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


_connections: dict[str, sqlite3.Connection] = {}


def _work(path: str, work: Callable[..., T], args: tuple[Any, ...]) -> T:
    conn = _connections.get(path)
    if conn is None:
        if len(_connections) >= 8:  # tests open many files; a server, one
            _connections.pop(next(iter(_connections))).close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA query_only=ON")
        _connections[path] = conn
    conn.execute("BEGIN")
    try:
        return work(conn, *args)
    finally:
        conn.execute("COMMIT")
