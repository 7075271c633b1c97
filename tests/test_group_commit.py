"""Group commit: concurrent callers' answers share one statement, and each hears its own truth.

These call the answers room's storage directly on a real SQLite file, so that the callers
are truly concurrent in one event loop (see test_concurrency.py for the same through HTTP).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.answers import NewAnswer, group_insert, store_batch
from server.db import Database, migrate
from tests.conftest import START

QUESTION = 1  # the check-in question of migration 0001
NOW = START.timestamp()


@pytest.fixture
async def db(db_path: str) -> AsyncIterator[Database]:
    migrate(db_path)
    database = Database(db_path)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


class CountingWrites:
    """Counts the statements that reach the writer connection, then runs them."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = db.write

        async def write(sql: str, params: Any = ()) -> Any:
            self.calls += 1
            return await real(sql, params)

        monkeypatch.setattr(db, "write", write)


def new(value: int = 1, id: str | None = None, comment: str | None = None) -> NewAnswer:
    return NewAnswer(
        id=id or str(uuid.uuid4()),
        question_id=QUESTION,
        value=value,
        answered_at=int(NOW),
        source="api",
        comment=comment,
    )


def stored_values(db_path: str) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT id, value FROM answers"))


async def test_concurrent_callers_share_one_statement(
    db: Database, db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = CountingWrites(db, monkeypatch)
    batches = [[new(), new()] for _ in range(10)]
    outcomes = await asyncio.gather(*(store_batch(db, b, NOW) for b in batches))
    assert outcomes == [["stored", "stored"]] * 10
    assert writes.calls == 1
    assert set(stored_values(db_path)) == {a.id for b in batches for a in b}


async def test_a_lone_caller_is_written_at_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = CountingWrites(db, monkeypatch)
    for _ in range(3):
        assert await store_batch(db, [new()], NOW) == ["stored"]
    assert writes.calls == 3


async def test_same_id_from_two_callers_in_one_group(db: Database, db_path: str) -> None:
    same, other = str(uuid.uuid4()), str(uuid.uuid4())
    outcomes = await asyncio.gather(
        store_batch(db, [new(2, same)], NOW),
        store_batch(db, [new(2, same)], NOW),
        store_batch(db, [new(1, other)], NOW),
        store_batch(db, [new(2, other)], NOW),
    )
    assert outcomes == [["stored"], ["duplicate"], ["stored"], ["rejected"]]
    assert stored_values(db_path) == {same: 2, other: 1}


async def test_a_group_never_exceeds_a_batch(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = CountingWrites(db, monkeypatch)
    batches = [[new() for _ in range(300)] for _ in range(3)]
    outcomes = await asyncio.gather(*(store_batch(db, b, NOW) for b in batches))
    assert outcomes == [["stored"] * 300] * 3
    assert writes.calls == 3  # 300 + 300 > 500: each batch goes alone


async def test_one_callers_failure_is_not_anothers(db: Database, db_path: str) -> None:
    good = new()
    # A row the database refuses (no such question): only its caller hears of it.
    bad = (str(uuid.uuid4()), 999_999, 1, int(NOW), int(NOW), "api")
    bad += (None, None, None, None, None, None, None, None, "f" * 64)
    good_row = (good.id, QUESTION, 1, int(NOW), int(NOW), "api")
    good_row += (None, None, None, None, None, None, None, None, good.fingerprint())
    inserts = group_insert(db)
    results = await asyncio.gather(
        inserts.insert([bad]), inserts.insert([good_row]), return_exceptions=True
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] == {good.id}
    assert stored_values(db_path) == {good.id: 1}


async def test_a_caller_that_goes_away_does_not_stop_the_others(db: Database, db_path: str) -> None:
    gone, staying = new(), new()
    leaving = asyncio.create_task(store_batch(db, [gone], NOW))
    await asyncio.sleep(0)  # its rows are queued for the next write
    leaving.cancel()
    assert await store_batch(db, [staying], NOW) == ["stored"]
    with pytest.raises(asyncio.CancelledError):
        await leaving
    # Rows queued before the caller left are written all the same: a re-send is a duplicate.
    assert set(stored_values(db_path)) == {gone.id, staying.id}
    assert await store_batch(db, [gone], NOW) == ["duplicate"]
