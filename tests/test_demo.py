"""The demo organisation: its shape, its story (a team's mood drops, its customers follow), its
determinism, and the links that let a new user in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import config, demo
from server.db import Database, migrate
from tests.conftest import FakeClock, add_person, db_of, sign_in

ZONE = "Europe/Amsterdam"
ROOT = Path(__file__).parent.parent
LINK = re.compile(r"http://\S+/signin/[\w-]+")


@pytest.fixture
async def loaded(
    app: Litestar, client: AsyncTestClient[Litestar], settings: config.Settings, clock: FakeClock
) -> AsyncIterator[Database]:
    """The app's database with the demo loaded at the fake clock's time."""
    assert await demo.load(db_of(app), settings, clock())
    yield db_of(app)


async def answers_frame(db: Database, today: date) -> pd.DataFrame:
    """Every answer with its team's name and the week it falls in (0 = the last seven days)."""
    rows = await db.fetch_all(
        "SELECT a.question_id AS q, a.value, a.answered_at, a.person_id, t.name AS team"
        " FROM answers a JOIN teams t ON t.id = a.team_id"
    )
    frame = pd.DataFrame([dict(row) for row in rows])
    moment = pd.to_datetime(frame["answered_at"], unit="s", utc=True).dt.tz_convert(ZONE)
    frame["local"] = moment
    frame["days_ago"] = [(today - d).days for d in moment.dt.date]
    frame["week"] = (frame["days_ago"] - 1) // 7
    return frame


def weekly(frame: pd.DataFrame, question: int, team: str, good: int) -> pd.Series:
    """Per week (oldest first), the percentage of the team's answers at or above `good`."""
    rows = frame[(frame["q"] == question) & (frame["team"] == team)]
    share = (rows["value"] >= good).groupby(rows["week"]).mean() * 100
    return share.sort_index(ascending=False)


def today_of(clock: FakeClock) -> date:
    return datetime.fromtimestamp(clock(), config.load({}).zone).date()


async def all_answers(path: str, settings: config.Settings, now: float) -> list[tuple[Any, ...]]:
    migrate(path)
    db = Database(path)
    await db.open()
    try:
        assert await demo.load(db, settings, now)
        rows = await db.fetch_all("SELECT * FROM answers ORDER BY id")
    finally:
        await db.close()
    return [tuple(row) for row in rows]


# --- shape -----------------------------------------------------------------------------


async def test_demo_has_four_teams_one_nested_forty_staff_and_managers(loaded: Database) -> None:
    teams = await loaded.fetch_all("SELECT id, name, parent_id FROM teams")
    assert len(teams) == 4
    assert [t["name"] for t in teams if t["parent_id"] is not None] == ["Klantenservice Zakelijk"]
    roles = dict(await loaded.fetch_all("SELECT role, COUNT(*) FROM people GROUP BY role"))
    assert roles == {"admin": 1, "manager": 3, "staff": 40}
    managed = await loaded.fetch_all(
        "SELECT person_id, COUNT(*) AS n FROM team_managers GROUP BY person_id"
    )
    assert len(managed) == 3 and max(row["n"] for row in managed) == 2
    unmanaged = await loaded.fetch_value(
        "SELECT COUNT(*) FROM teams WHERE id NOT IN (SELECT team_id FROM team_managers)"
    )
    assert unmanaged == 0


async def test_demo_spans_twelve_weeks_of_workday_evening_checkins(
    loaded: Database, clock: FakeClock
) -> None:
    frame = await answers_frame(loaded, today_of(clock))
    assert frame["days_ago"].min() >= 1 and frame["days_ago"].max() == 84
    assert frame["answered_at"].max() < clock()
    checkins = frame[frame["q"] == 1]
    assert set(checkins["value"]) == {1, 2}
    assert (checkins["local"].dt.day_of_week < 5).all()
    hours = checkins["local"].dt.hour
    assert ((hours >= 16) & (hours < 18)).all()
    participation = len(checkins) / (40 * 60)
    assert 0.70 <= participation <= 0.85
    per_day = checkins.groupby(checkins["local"].dt.date)["person_id"].nunique()
    assert per_day.max() < 40, "not everyone checks in every day"


async def test_demo_answers_every_kind_on_its_scale(loaded: Database) -> None:
    rows = await loaded.fetch_all(
        "SELECT question_id, MIN(value) AS lo, MAX(value) AS hi, COUNT(*) AS n,"
        " SUM(person_id IS NULL) AS anonymous, MIN(source) AS s1, MAX(source) AS s2"
        " FROM answers GROUP BY question_id"
    )
    kinds = {row["question_id"]: row for row in rows}
    assert set(kinds) == {1, 2, 3, 4, 5}
    assert (kinds[1]["lo"], kinds[1]["hi"]) == (1, 2)
    assert (kinds[2]["lo"], kinds[2]["hi"]) == (1, 2)
    assert kinds[3]["lo"] >= 0 and kinds[3]["hi"] <= 10
    assert (kinds[4]["lo"], kinds[4]["hi"]) == (1, 4)
    assert kinds[5]["lo"] >= 0 and kinds[5]["hi"] <= 10
    assert all(row["s1"] == row["s2"] == "demo" for row in rows)
    assert kinds[4]["anonymous"] == kinds[4]["n"] and kinds[5]["anonymous"] == kinds[5]["n"]
    assert kinds[1]["anonymous"] == 0
    assert await loaded.fetch_value("SELECT COUNT(*) FROM answers WHERE team_id IS NULL") == 0


async def test_enps_is_answered_at_most_once_a_month(loaded: Database) -> None:
    rows = await loaded.fetch_all(
        "SELECT person_id, answered_at FROM answers WHERE question_id = 3"
    )
    months = pd.to_datetime([row["answered_at"] for row in rows], unit="s", utc=True)
    frame = pd.DataFrame({"person": [row["person_id"] for row in rows], "month": months.month})
    assert not frame.duplicated().any()
    assert frame["person"].nunique() >= 35


async def test_self_and_customer_ratings_pair_up_with_misses(loaded: Database) -> None:
    pairs = await loaded.fetch_all(
        "SELECT s.value AS own, c.value AS customer, s.team_id AS a, c.team_id AS b"
        " FROM answers s JOIN answers c ON c.contact_ref = s.contact_ref"
        " WHERE s.question_id = 2 AND c.question_id = 4"
    )
    assert len(pairs) >= 300
    assert all(row["a"] == row["b"] for row in pairs)
    misses = [row for row in pairs if row["own"] == 2 and row["customer"] <= 2]
    assert 0.03 * len(pairs) <= len(misses) <= 0.25 * len(pairs)
    agreed = [row for row in pairs if (row["own"] == 2) == (row["customer"] >= 3)]
    assert len(agreed) > 0.7 * len(pairs)


# --- the story -------------------------------------------------------------------------


async def test_shop_mood_drops_and_its_csat_follows_two_weeks_later(
    loaded: Database, clock: FakeClock
) -> None:
    frame = await answers_frame(loaded, today_of(clock))
    mood = weekly(frame, 1, "Winkel Utrecht", good=2)
    csat = weekly(frame, 4, "Winkel Utrecht", good=3)
    before_mood, before_csat = mood.loc[11:5].mean(), csat.loc[11:5].mean()
    assert mood.loc[2:0].mean() < before_mood - 25
    assert csat.loc[1:0].mean() < before_csat - 15
    # Three weeks ago the team already felt worse, but its customers did not notice yet.
    assert mood.loc[3] < before_mood - 15
    assert csat.loc[3] > before_csat - 8
    lags = [np.corrcoef(mood.values[: 12 - k], csat.values[k:])[0, 1] for k in range(5)]
    # Mood leads: it correlates best with CSAT some weeks later, not with the same week's.
    assert int(np.argmax(lags)) == 2


async def test_other_teams_stay_steady(loaded: Database, clock: FakeClock) -> None:
    frame = await answers_frame(loaded, today_of(clock))
    for team in ("Klantenservice", "Klantenservice Zakelijk", "Buitendienst"):
        for question, good in ((1, 2), (4, 3)):
            series = weekly(frame, question, team, good)
            assert abs(series.loc[4:0].mean() - series.loc[11:5].mean()) < 10, (team, question)


# --- determinism and idempotence -------------------------------------------------------


async def test_same_seed_and_date_give_identical_answers(tmp_path: Path, clock: FakeClock) -> None:
    first, second, other = (str(tmp_path / f"{n}.db") for n in ("a", "b", "c"))
    rows = await all_answers(first, config.load({}, database=first), clock())
    assert len(rows) > 5000
    later_that_day = clock() + 5 * 3600
    assert rows == await all_answers(second, config.load({}, database=second), later_that_day)
    reseeded = config.load({}, database=other, demo_seed=7)
    assert rows != await all_answers(other, reseeded, clock())


async def test_second_load_returns_false_and_changes_nothing(
    loaded: Database, settings: config.Settings, clock: FakeClock
) -> None:
    async def counts() -> list[Any]:
        return [
            await loaded.fetch_value(f"SELECT COUNT(*) FROM {table}")
            for table in ("teams", "people", "team_managers", "invites", "answers")
        ]

    before = await counts()
    clock.advance(86400)
    assert await demo.load(loaded, settings, clock()) is False
    assert await counts() == before


async def test_no_demo_into_an_organisation_that_has_people(
    app: Litestar, client: AsyncTestClient[Litestar], settings: config.Settings, clock: FakeClock
) -> None:
    await add_person(app)
    assert await demo.load(db_of(app), settings, clock()) is False
    assert await db_of(app).fetch_value("SELECT COUNT(*) FROM answers") == 0


# --- getting in --------------------------------------------------------------------------


async def test_sign_in_links_open_the_demo_as_admin_manager_and_staff(
    loaded: Database, settings: config.Settings, client: AsyncTestClient[Litestar], clock: FakeClock
) -> None:
    links = await demo.sign_in_links(loaded, settings, clock())
    assert [role for role, _, _ in links] == ["admin", "manager", "staff"]
    for role, name, link in links:
        assert link.startswith(settings.public_url + "/signin/")
        await sign_in(client, link.rsplit("/", 1)[1])
        me = (await client.get("/api/v1/me")).json()
        assert (me["role"], me["name"]) == (role, name)
    staff = (await client.get("/api/v1/me")).json()
    assert staff["team"]["name"] == "Klantenservice"
    history = (await client.get("/api/v1/me/answers")).json()["answers"]
    assert {a["kind"] for a in history} >= {"checkin", "contact_self"}


async def test_sign_in_links_work_once(
    loaded: Database, settings: config.Settings, client: AsyncTestClient[Litestar], clock: FakeClock
) -> None:
    _, _, link = (await demo.sign_in_links(loaded, settings, clock()))[0]
    token = link.rsplit("/", 1)[1]
    await sign_in(client, token)
    client.cookies.clear()  # another browser: the used link signs nobody in
    assert (await client.get(f"/signin/{token}")).status_code == 410


def test_spiegel_demo_command_prints_three_sign_in_links(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIEGEL_")}
    env["SPIEGEL_DATABASE"] = str(tmp_path / "cli.db")
    command = [sys.executable, "-m", "server.cli", "demo"]
    run = {"env": env, "cwd": ROOT, "capture_output": True, "text": True, "timeout": 60}
    done = subprocess.run(command, check=False, **run)
    assert done.returncode == 0, done.stderr
    assert "Sign in as" in done.stdout
    assert len(LINK.findall(done.stdout)) == 3
    again = subprocess.run(command, check=False, **run)
    assert "already present" in again.stdout
    assert len(set(LINK.findall(again.stdout) + LINK.findall(done.stdout))) == 6
