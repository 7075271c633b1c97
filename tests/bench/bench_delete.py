"""Deleting a person on a big database: admin.remove_person's time, on a copy.

Run by hand (pytest does not collect tests/bench), on a database made by the dashboard
benchmark (3.7 million answers):

    .venv/bin/python tests/bench/bench_dashboard.py --keep /tmp/dash
    .venv/bin/python tests/bench/bench_delete.py /tmp/dash/dashboard.db

It copies the file (the original is never changed), then deletes, each on a fresh copy, the
person with the most answers and a person with the median number, and prints the times; then
it times a full rebuild of the rollups (what a delete did before it subtracted the person).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server import admin, config, people, reports  # noqa: E402
from server.db import Database, migrate  # noqa: E402
from server.deps import Context  # noqa: E402

PICK = {
    "most": "SELECT person_id, COUNT(*) AS n FROM answers WHERE person_id IS NOT NULL"
    " GROUP BY person_id ORDER BY n DESC LIMIT 1",
    "typical": "SELECT person_id, n FROM (SELECT person_id, COUNT(*) AS n FROM answers"
    " WHERE person_id IS NOT NULL GROUP BY person_id) ORDER BY n LIMIT 1 OFFSET"
    " (SELECT COUNT(DISTINCT person_id) FROM answers) / 2",
}


def copy(source: Path, folder: Path) -> str:
    """A consistent copy of the file, its write-ahead log included (sqlite3's backup)."""
    target = folder / "delete.db"
    target.unlink(missing_ok=True)
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    return str(target)


async def remove(path: str, which: str) -> tuple[int, int, float]:
    """(answers in the database, answers of the person, seconds remove_person took)."""
    migrate(path)
    settings = admin.effective(config.load({}, database=path), admin.organisation_of_file(path))
    db = Database(path, settings.db_synchronous, settings.db_busy_timeout_ms)
    await db.open()
    try:
        ctx = Context(db=db, settings=settings, clock=time.time)
        total = int(await db.fetch_value("SELECT COUNT(*) FROM answers"))
        row = await db.fetch_one(PICK[which])
        assert row is not None, "the database has no answers of people"
        person = await people.get_person(db, int(row[0]))
        assert person is not None
        await reports.ensure_rollups(ctx)
        started = time.perf_counter()
        count = await admin.remove_person(ctx, None, person)
        took = time.perf_counter() - started
        if which == "typical":  # what a full rebuild of the rollups costs, for comparison
            started = time.perf_counter()
            async with db.transaction() as tx:
                await reports.recompute(tx, settings.timezone)
            print(f"full rebuild of the rollups: {time.perf_counter() - started:.2f} s")
        return total, count, took
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="a Spiegel database (left unchanged)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for which in PICK:
            path = copy(args.database, Path(tmp))
            total, count, seconds = asyncio.run(remove(path, which))
            print(f"{which:8} person: {count:>7} of {total} answers deleted in {seconds:.2f} s")


if __name__ == "__main__":
    main()
