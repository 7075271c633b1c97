"""Connections to the embedded SQLite file: one writer, one reader, a small pool of readers for
reports, and the migrations runner."""

from __future__ import annotations

import asyncio
import queue
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio
import anyio.to_thread

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

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
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
        await conn.execute("PRAGMA busy_timeout=5000")
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
        """One write transaction; it has committed when the block exits without error."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._write_lock:
            conn = self._writer
            # IMMEDIATE takes the write lock up front, so a CLI writing beside a running
            # server waits on busy_timeout instead of failing half-way through.
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(conn)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def write(self, sql: str, params: Params = ()) -> list[Row]:
        """One statement as its own transaction, committed when this returns; its rows
        (from RETURNING). One trip to the writer's thread: the cheapest durable write."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        if self._write_lock.locked():
            # Another coroutine's transaction is open on the writer: queued now, this
            # statement would run inside it.
            async with self._write_lock:
                return list(await self._writer.execute_fetchall(sql, params))
        # No lock needed: the writer's thread runs statements in the order they are queued,
        # and execute_fetchall queues before it first yields, so no transaction can open in
        # between. Not holding the lock across the trip lets concurrent writes queue up
        # behind each other instead of waiting for the event loop between them.
        return list(await self._writer.execute_fetchall(sql, params))

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


class ReadPool:
    """Read-only connections for long reads (reports), each used by one worker thread at a
    time: a report's queries and the pandas work after them run off the event loop, and
    never on the writer or the reader the request path shares. Each call sees one snapshot."""

    def __init__(self, path: str, size: int = 2) -> None:
        self.path = path
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._limiter = anyio.CapacityLimiter(size)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """work(connection) in a worker thread, inside one read transaction."""
        return await anyio.to_thread.run_sync(self._run, work, limiter=self._limiter)

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            conn.execute("BEGIN")
            try:
                return work(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            self._idle.put(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA query_only=ON")
        return conn

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
