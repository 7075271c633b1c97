"""Migrations: they apply to an empty file, are idempotent on restart, and roll back on error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from server import config, db
from server.app import create_app
from tests.conftest import FakeClock, add_person


def query(path: str, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_migrations_apply_to_an_empty_file(tmp_path: Path) -> None:
    path = str(tmp_path / "new" / "spiegel.db")

    applied = db.migrate(path)

    available = db.available_migrations()
    assert applied == [m.name for m in available]
    assert applied[0] == "0001_init.sql"
    assert query(path, "SELECT version, name FROM schema_migrations ORDER BY version") == [
        (m.version, m.name) for m in available
    ]
    tables = {row[0] for row in query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"people", "teams", "sessions", "invites", "api_keys", "questions", "answers"} <= tables
    assert query(path, "PRAGMA journal_mode") == [("wal",)]


def test_migrations_are_idempotent(db_path: str) -> None:
    db.migrate(db_path)
    before = query(db_path, "SELECT * FROM schema_migrations")

    assert db.migrate(db_path) == []
    assert query(db_path, "SELECT * FROM schema_migrations") == before


def test_migration_numbers_are_unique_and_files_are_numbered() -> None:
    versions = [m.version for m in db.available_migrations()]

    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_default_questions_exist_after_migrating(db_path: str) -> None:
    db.migrate(db_path)

    rows = query(db_path, "SELECT kind, scale_min, scale_max, active FROM questions ORDER BY id")
    active = {(kind, lo, hi) for kind, lo, hi, on in rows if on}
    assert active == {
        ("checkin", 1, 2),
        ("contact_self", 1, 2),
        ("enps", 0, 10),
        ("customer_csat", 1, 4),
        ("customer_nps", 0, 10),
    }
    kinds = {row[0] for row in rows}
    assert {"mirror_staff", "customer_mirror"} <= kinds
    assert all(text for (text,) in query(db_path, "SELECT text_nl || text_en FROM questions"))


async def test_restarting_the_app_keeps_data_and_applies_nothing_twice(
    settings: config.Settings, clock: FakeClock
) -> None:
    first = create_app(settings, clock)
    async with AsyncTestClient(first):
        await add_person(first)
    before = query(settings.database, "SELECT * FROM schema_migrations")

    second = create_app(settings, clock)
    async with AsyncTestClient(second) as client:
        health = await client.get("/healthz")

    assert health.status_code == 200
    assert query(settings.database, "SELECT * FROM schema_migrations") == before
    assert query(settings.database, "SELECT email FROM people") == [("anna@example.org",)]
    assert query(settings.database, "SELECT COUNT(*) FROM questions") == [(11,)]


def test_failing_migration_is_rolled_back_entirely(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.migrate(db_path)
    good = db.available_migrations()
    broken = db.Migration(
        9999,
        "9999_broken.sql",
        "CREATE TABLE half_done (a INTEGER);\nINSERT INTO nowhere VALUES (1);",
    )
    monkeypatch.setattr(db, "available_migrations", lambda: [*good, broken])

    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        db.migrate(db_path)

    names = {row[0] for row in query(db_path, "SELECT name FROM sqlite_master")}
    assert "half_done" not in names
    assert query(db_path, "SELECT MAX(version) FROM schema_migrations") == [(good[-1].version,)]


def test_secret_generated_for_csrf_is_kept_across_restarts(
    settings: config.Settings, clock: FakeClock
) -> None:
    create_app(settings, clock)
    first = query(settings.database, "SELECT value FROM instance_secrets WHERE name = 'csrf'")
    create_app(settings, clock)

    assert (
        query(settings.database, "SELECT value FROM instance_secrets WHERE name = 'csrf'") == first
    )
    assert len(str(first[0][0])) >= 32
