"""The reports room through the real app: what counts, who may look, what stays hidden."""

from __future__ import annotations

import csv
import io
import random
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from litestar import Litestar
from litestar.exceptions import ValidationException
from litestar.testing import AsyncTestClient

from server import analytics, answers, auth, callers, cli, config, demo, people, reports
from server.answers import NewAnswer
from server.callers import Principal, person
from server.deps import Context
from tests.conftest import START, FakeClock, add_person, answer, db_of, sign_in

Client = AsyncTestClient[Litestar]
TODAY = date(2026, 11, 23)  # START, a Monday
THIS_WEEK, LAST_WEEK = date(2026, 11, 23), date(2026, 11, 16)


# --- helpers -----------------------------------------------------------------------------


def ctx_of(app: Litestar) -> Context:
    context: Context = app.dependencies["ctx"].dependency()
    return context


async def team(app: Litestar, name: str, parent: str | None = None) -> int:
    db = db_of(app)
    async with db.transaction() as tx:
        parent_id = None
        if parent is not None:
            parent_id = await people.ensure_team(tx, parent, None, 0)
        return await people.ensure_team(tx, name, parent_id, 0)


async def staff(app: Litestar, team_name: str, count: int, prefix: str | None = None) -> list[int]:
    """count new staff of a team; their person ids."""
    ids = []
    for i in range(count):
        email = f"{prefix or team_name.lower().replace(' ', '')}{i}@example.org"
        person_id, _ = await add_person(app, email=email, team=team_name, name=f"Naam {email}")
        ids.append(person_id)
    return ids


async def manager(
    app: Litestar, client: Client, teams: list[str], email: str = "m@example.org"
) -> Principal:
    """A manager of these teams, signed in on the client; their Principal."""
    person_id, token = await add_person(app, email=email, role="manager", team=None, name="Lars")
    for name in teams:
        await people.add_team_manager(db_of(app), person_id, await team(app, name))
    await sign_in(client, token)
    return person(person_id, "manager", "Lars", "", None, None)


def at(day: date, hour: float = 16.0) -> int:
    """Seconds of a local (Amsterdam, winter: UTC+1) hour on a day."""
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour - 1)
    return int(moment.timestamp())


def checkin(person: int, team_id: int, value: int, when: int, **extra: Any) -> NewAnswer:
    return NewAnswer(
        id=str(uuid.uuid4()), question_id=1, value=value, answered_at=when, source="app",
        person_id=person, team_id=team_id, **extra,
    )  # fmt: skip


def customer(team_id: int, value: int, when: int, question: int = 4) -> NewAnswer:
    return NewAnswer(
        id=str(uuid.uuid4()), question_id=question, value=value, answered_at=when, source="api",
        team_id=team_id,
    )  # fmt: skip


async def store(app: Litestar, *made: NewAnswer) -> None:
    assert set(await answers.store_batch(db_of(app), list(made), START.timestamp())) == {"stored"}


async def summary(client: Client, team_id: int, **query: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/teams/{team_id}/summary", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def switch(client: Client, token: str) -> None:
    """Sign in as another person on the same client (a second client's lifespan would close
    the app's database)."""
    client.cookies.clear()
    await sign_in(client, token)


def parse_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))


async def api_key(app: Litestar, scopes: list[str] | None, team_id: int | None = None) -> str:
    db = db_of(app)
    if scopes is None:
        return await auth.create_api_key(db, "bi", team_id, START.timestamp())
    return await auth.create_api_key(db, "bi", team_id, START.timestamp(), scopes)


# --- the anonymity rule ------------------------------------------------------------------


async def test_team_of_four_shows_fewer_than_k_in_overview_summary_and_csv(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    shop = await team(app, "Winkel")
    tokens = []
    for i in range(4):
        _, token = await add_person(app, email=f"s{i}@example.org", team="Winkel")
        tokens.append(token)
    for token in tokens:  # through the real pipeline, each signed in in turn
        await switch(client, token)
        posted = await client.post("/api/v1/answers", json={"answers": [answer(at=clock.iso(-60))]})
        assert posted.status_code == 200
    who = await manager(app, client, ["Winkel"])

    found = await reports.overview(ctx_of(app), who, reports.period_from(None, None, None, TODAY))
    [row] = found.teams
    assert (row.shown, row.reason, row.hidden["mood"]) == (False, "fewer_than_k", "fewer_than_k")
    assert (row.mood, row.enps, row.csat, row.nps, row.participation) == (None,) * 5
    body = await summary(client, shop)
    assert body["summary"]["shown"] is False and body["summary"]["reason"] == "fewer_than_k"
    assert body["summary"]["mood"] is None and body["summary"]["participation"] is None
    assert all(w["mood"] is None and w["mood_n"] == 0 for w in body["weeks"])
    table = parse_csv((await client.get("/api/v1/reports/export.csv")).text)
    for line in table[1:]:
        assert line[5:9] == ["", "", "", ""]
    assert {line[9] for line in table[1:] if line[4].startswith("mood")} == {"fewer than 5 answers"}


async def test_parent_minus_shown_children_cannot_reveal_a_hidden_child(
    app: Litestar, client: Client
) -> None:
    # A region over shops of 6, 7 and 4: the 4 are hidden, and region minus the two others
    # would give them, so the next-smallest shop (6) is hidden too; region minus 7 = 10.
    region = await team(app, "Regio")
    sizes = {"Winkel A": 6, "Winkel B": 7, "Winkel C": 4}
    made = []
    for name, size in sizes.items():
        shop = await team(app, name, parent="Regio")
        made += [checkin(p, shop, 2, at(THIS_WEEK, 9)) for p in await staff(app, name, size)]
    await store(app, *made)
    await manager(app, client, ["Regio"])

    seen = {name: (await summary(client, await team(app, name)))["summary"] for name in sizes}
    whole = (await summary(client, region))["summary"]

    assert seen["Winkel C"]["reason"] == "fewer_than_k" and seen["Winkel C"]["mood"] is None
    assert seen["Winkel A"]["reason"] == "complementary" and seen["Winkel A"]["mood"] is None
    assert seen["Winkel A"]["hidden"]["mood"] == "complementary"
    assert seen["Winkel B"]["mood"]["n"] == 7
    assert whole["mood"]["n"] == 17
    assert whole["mood"]["n"] - seen["Winkel B"]["mood"]["n"] >= 5


async def test_period_minus_a_sub_period_reveals_no_week_of_fewer_than_k(
    app: Litestar, client: Client
) -> None:
    shop = await team(app, "Winkel")
    ids = await staff(app, "Winkel", 6)
    weeks = [THIS_WEEK - timedelta(weeks=n) for n in (3, 2, 1)]
    made = [checkin(p, shop, 2, at(w)) for w in weeks for p in ids]
    made += [checkin(p, shop, 1, at(THIS_WEEK, 9)) for p in ids[:2]]  # 2 sad ones this week
    await store(app, *made)
    await manager(app, client, ["Winkel"])

    whole = await summary(client, shop)  # 4 weeks, this one included
    before = await summary(client, shop, **{"from": "2026-11-04", "to": "2026-11-18"})

    assert before["period"] == {"start": "2026-11-02", "end": "2026-11-22", "preset": "custom"}
    assert whole["summary"]["mood"] == before["summary"]["mood"]  # the 2 are left out of both
    assert whole["summary"]["mood"]["n"] == 18 and whole["summary"]["mood"]["index"] == 100
    assert whole["summary"]["left_out"] == {"mood": 1}
    assert whole["weeks"][-1] == {"team": shop, "week": "2026-11-23", "mood": None, "mood_n": 0,
                                  "csat": None, "csat_n": 0}  # fmt: skip
    await store(app, *[checkin(p, shop, 1, at(THIS_WEEK, 10)) for p in ids[2:5]])
    grown = (await summary(client, shop))["summary"]["mood"]
    assert grown["n"] == 23  # five people this week: now a cell of its own, and counted
    assert (await summary(client, shop))["weeks"][-1]["mood_n"] == 5


def test_any_two_periods_differ_only_by_whole_shown_weeks() -> None:
    # One team over six weeks with generated respondent counts (a seeded sample, so no
    # example database is written): every period's n, and the difference of any period and
    # a sub-period, is a sum of weeks of at least k respondents.
    org = reports.Org([1], ["T"], [None], {1: 0}, np.ones((1, 1)), np.array([9.0]))
    rng = random.Random(9)
    for _ in range(150):
        counts, k = [rng.choice([0, 1, 2, 4, 5, 6, 9]) for _ in range(6)], rng.randint(3, 6)
        own = np.zeros((1, 6, len(reports.KINDS), len(reports.FIELDS)))
        for w, n in enumerate(counts):
            own[0, w, reports.KIND["checkin"]] = [n, 100 * (n // 2), n // 2, 0, 0, 0, 0, n]
        respondents = own[..., reports.ANONYMOUS] + own[..., reports.PERSONS]
        seen = np.stack([reports.visibility(org, respondents[:, :, c], k, 10) for c in range(7)])
        weeks = reports.Weeks(0, own, own, seen)
        shown = [n if n >= k else 0 for n in counts]

        def n_of(a: int, b: int, weeks: reports.Weeks = weeks) -> int:
            figure = reports.period_figures(weeks, "checkin", slice(a, b))[0]
            return 0 if figure.value is None else int(figure.value.n)

        for a in range(6):
            for b in range(a + 1, 7):
                assert n_of(a, b) == sum(shown[a:b])
                for c in range(a, b):
                    for d in range(c + 1, b + 1):
                        assert n_of(a, b) - n_of(c, d) == sum(shown[a:c]) + sum(shown[d:b])


def test_custom_periods_snap_to_whole_weeks_and_presets_end_with_this_week() -> None:
    assert reports.period_from(None, None, None, TODAY) == reports.Period(
        date(2026, 11, 2), TODAY, "4w"
    )
    assert reports.period_from("quarter", None, None, TODAY).start == date(2026, 8, 31)
    assert reports.period_from("year", None, None, TODAY).start == date(2025, 12, 1)
    wed = date(2026, 11, 25)
    assert reports.period_from("custom", "2026-10-07", "2026-11-25", wed) == reports.Period(
        date(2026, 10, 5), wed, "custom"
    )
    assert reports.previous(reports.Period(date(2026, 11, 2), TODAY, "4w")) == reports.Period(
        date(2026, 10, 5), date(2026, 11, 1), "4w"
    )


@pytest.mark.parametrize(
    ("preset", "start", "end", "says"),
    [
        (None, "2026-13-01", "2026-11-20", "from is not a date"),
        (None, "2026-11-20", None, "needs from and to"),
        (None, "2026-11-20", "2026-11-01", "must not lie after"),
        (None, "2023-01-01", "2026-11-01", "at most two years"),
        ("month", None, None, "Unknown period"),
        ("4w", "2026-11-01", "2026-11-20", "not both"),
    ],
)
def test_bad_periods_are_refused_with_a_reason(
    preset: str | None, start: str | None, end: str | None, says: str
) -> None:
    with pytest.raises(ValidationException, match=says):
        reports.period_from(preset, start, end, TODAY)


async def test_bad_dates_on_the_routes_are_400(app: Litestar, client: Client) -> None:
    shop = await team(app, "Winkel")
    await manager(app, client, ["Winkel"])
    bad = await client.get(f"/api/v1/teams/{shop}/summary", params={"from": "gisteren"})
    assert bad.status_code == 400 and "from" in bad.json()["detail"]
    csv_bad = await client.get("/api/v1/reports/export.csv", params={"preset": "decade"})
    assert csv_bad.status_code == 400


# --- who may look ------------------------------------------------------------------------


async def test_a_manager_sees_their_teams_and_those_below_and_no_other(
    app: Litestar, client: Client
) -> None:
    sub = await team(app, "Zakelijk", parent="Klantenservice")
    other = await team(app, "Winkel")
    own = await team(app, "Klantenservice")
    who = await manager(app, client, ["Klantenservice"])

    assert (await client.get(f"/api/v1/teams/{other}/summary")).status_code == 403
    assert (await client.get(f"/api/v1/teams/{sub}/summary")).status_code == 200
    assert (await client.get("/api/v1/teams/999/summary")).status_code == 404
    refs = await reports.visible_teams(ctx_of(app), who)
    assert [(r.id, r.depth) for r in refs] == [(own, 0), (sub, 1)]
    period = reports.period_from(None, None, None, TODAY)
    with pytest.raises(reports.PermissionDeniedException):
        await reports.compare(ctx_of(app), who, [own, other], period)
    with pytest.raises(reports.NotFoundException):
        await reports.team_detail(ctx_of(app), who, 999, period)
    assert [s.team.id for s in await reports.compare(ctx_of(app), who, [sub, own], period)] == [
        sub, own,
    ]  # fmt: skip


async def test_staff_get_403_on_every_reports_route(app: Litestar, client: Client) -> None:
    shop = await team(app, "Winkel")
    person_id, token = await add_person(app, team="Winkel")
    await sign_in(client, token)
    assert (await client.get(f"/api/v1/teams/{shop}/summary")).status_code == 403
    assert (await client.get("/api/v1/teams/999/summary")).status_code == 403
    assert (await client.get("/api/v1/reports/export.csv")).status_code == 403
    posted = await client.post(
        f"/api/v1/teams/{shop}/actions", json={"what": "x", "on": "2026-11-20"}
    )
    assert posted.status_code == 403
    who = person(person_id, "staff", "", "", None, None)
    assert await reports.visible_teams(ctx_of(app), who) == []


async def test_an_api_key_reads_reports_only_with_the_read_scope(
    app: Litestar, client: Client
) -> None:
    shop = await team(app, "Winkel")
    other = await team(app, "Kantoor")
    writer = {"Authorization": f"Bearer {await api_key(app, None)}"}
    reader = {"Authorization": f"Bearer {await api_key(app, ['reports:read'])}"}
    local = {"Authorization": f"Bearer {await api_key(app, ['reports:read'], shop)}"}

    assert (await client.get(f"/api/v1/teams/{shop}/summary", headers=writer)).status_code == 403
    assert (await client.get("/api/v1/reports/export.csv", headers=writer)).status_code == 403
    assert (await client.get(f"/api/v1/teams/{shop}/summary", headers=reader)).status_code == 200
    exported = await client.get("/api/v1/reports/export.csv", headers=reader)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert (await client.get(f"/api/v1/teams/{other}/summary", headers=local)).status_code == 403
    action = await client.post(
        f"/api/v1/teams/{shop}/actions", json={"what": "x", "on": "2026-11-20"}, headers=reader
    )
    assert action.status_code == 403


def test_apikey_create_takes_scopes_and_keeps_answers_write_by_default(
    db_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in config.setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPIEGEL_DATABASE", db_path)
    assert cli.main(["apikey", "create", "--name", "plain"]) == 0
    args = ["--scope", "reports:read", "--scope", "answers:write"]
    assert cli.main(["apikey", "create", "--name", "bi", *args]) == 0
    with pytest.raises(SystemExit):
        cli.main(["apikey", "create", "--name", "bad", "--scope", "everything"])
    capsys.readouterr()
    with closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute("SELECT name, scopes FROM api_keys ORDER BY id").fetchall()
    assert rows == [("plain", "answers:write"), ("bi", "reports:read answers:write")]
    assert cli.SCOPES == callers.SCOPES


async def test_no_report_names_a_person_or_holds_an_answer(app: Litestar, client: Client) -> None:
    shop = await team(app, "Winkel")
    ids = await staff(app, "Winkel", 12)
    made = [checkin(p, shop, 2, at(LAST_WEEK), comment=f"opmerking {p}") for p in ids]
    await store(app, *made)
    who = await manager(app, client, ["Winkel"])
    period = reports.period_from(None, None, None, TODAY)
    texts = [
        (await client.get(f"/api/v1/teams/{shop}/summary")).text,
        (await client.get("/api/v1/reports/export.csv")).text,
        str(await reports.team_detail(ctx_of(app), who, shop, period)),
        str(await reports.overview(ctx_of(app), who, period)),
    ]
    for text in texts:
        assert "Naam" not in text and "@example.org" not in text
        assert not any(a.id in text for a in made)
    detail = await reports.team_detail(ctx_of(app), who, shop, period)
    assert sorted(detail.comments or []) == sorted(f"opmerking {p}" for p in ids)


async def test_comments_stay_hidden_below_the_comment_threshold(
    app: Litestar, client: Client
) -> None:
    shop = await team(app, "Winkel")
    ids = await staff(app, "Winkel", 9)
    await store(app, *[checkin(p, shop, 2, at(LAST_WEEK), comment="zwaar") for p in ids])
    who = await manager(app, client, ["Winkel"])
    period = reports.period_from(None, None, None, TODAY)
    detail = await reports.team_detail(ctx_of(app), who, shop, period)
    assert detail.summary.mood is not None and detail.summary.mood.n == 9
    assert detail.comments is None and detail.summary.comments_allowed is False


# --- what counts -------------------------------------------------------------------------


async def test_a_retap_and_a_comment_count_once_and_every_customer_tap_counts(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    shop = await team(app, "Winkel")
    for i in range(5):
        _, token = await add_person(app, email=f"s{i}@example.org", team="Winkel")
        await switch(client, token)
        sad, happy = answer(value=1, at=clock.iso(-3600)), answer(value=2, at=clock.iso(-1800))
        said = answer(value=2, at=clock.iso(-1700), comment="druk maar goed")
        earlier = answer(value=1, at=clock.iso(-7200))  # an older answer that syncs late
        for sent in (sad, happy, said, earlier):
            posted = await client.post("/api/v1/answers", json={"answers": [sent]})
            assert posted.json()["results"][0]["status"] == "stored"
    client.cookies.clear()
    kiosk = {"Authorization": f"Bearer {await api_key(app, None, shop)}"}
    taps = [answer(question=4, value=4, at=clock.iso(-60)) for _ in range(6)]
    assert (
        await client.post("/api/v1/answers", json={"answers": taps}, headers=kiosk)
    ).status_code == 200
    await manager(app, client, ["Winkel"])

    body = (await summary(client, shop))["summary"]

    assert body["mood"]["n"] == 5 and body["mood"]["index"] == 100.0
    assert body["csat"]["n"] == 6 and body["csat"]["value"] == 100.0
    assert body["participation"]["count"] == 5


async def test_a_late_answer_is_in_the_next_summary(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    shop = await team(app, "Winkel")
    three_weeks_ago = THIS_WEEK - timedelta(weeks=3)
    await store(
        app, *[checkin(p, shop, 2, at(three_weeks_ago)) for p in await staff(app, "Winkel", 5)]
    )
    _, token = await add_person(app, email="laat@example.org", team="Winkel")
    _, boss = await add_person(app, email="m@example.org", role="manager", team="Winkel")
    await switch(client, boss)
    before = await summary(client, shop)
    assert before["summary"]["mood"]["n"] == 5

    await switch(client, token)
    late = answer(value=1, at=datetime.fromtimestamp(at(three_weeks_ago, 17), UTC).isoformat())
    assert (await client.post("/api/v1/answers", json={"answers": [late]})).status_code == 200
    _, boss = await add_person(app, email="m2@example.org", role="manager", team="Winkel")
    await switch(client, boss)
    after = await summary(client, shop)

    assert after["summary"]["mood"]["n"] == 6
    assert after["weeks"][0]["mood_n"] == 6 and after["weeks"][0]["mood"] == pytest.approx(500 / 6)


async def test_days_and_weeks_are_the_organisations_local_ones(
    app: Litestar, client: Client
) -> None:
    # 00:30 on Monday in Amsterdam is 23:30 on Sunday in UTC: the answers belong to this week.
    shop = await team(app, "Winkel")
    ids = await staff(app, "Winkel", 5)
    await store(app, *[checkin(p, shop, 2, at(THIS_WEEK, 0.5)) for p in ids])
    await manager(app, client, ["Winkel"])
    weeks = (await summary(client, shop))["weeks"]
    assert [w["mood_n"] for w in weeks] == [0, 0, 0, 5]


async def test_rollups_kept_by_the_triggers_equal_a_rebuild_from_the_answers(
    app: Litestar, client: Client
) -> None:
    shop = await team(app, "Winkel")
    moved = await team(app, "Kantoor")
    ids = await staff(app, "Winkel", 6)
    who = await manager(app, client, ["Winkel"])
    await reports.overview(ctx_of(app), who, reports.period_from(None, None, None, TODAY))
    made = []
    for n, p in enumerate(ids):
        made += [
            checkin(p, shop, 1 + n % 2, at(LAST_WEEK, 15)),
            checkin(p, shop, 2, at(LAST_WEEK, 14)),
        ]
        ref = f"call-{n}"
        made += [
            NewAnswer(id=str(uuid.uuid4()), question_id=2, value=2, answered_at=at(THIS_WEEK, 9),
                      source="app", person_id=p, team_id=shop, contact_ref=ref),
            NewAnswer(id=str(uuid.uuid4()), question_id=2, value=1, answered_at=at(THIS_WEEK, 10),
                      source="app", person_id=p, team_id=moved, contact_ref=ref),
            NewAnswer(id=str(uuid.uuid4()), question_id=3, value=n + 4,
                      answered_at=at(LAST_WEEK, 11), source="app", person_id=p,
                      team_id=moved if n == 0 else shop),
            customer(shop, 1 + n % 4, at(LAST_WEEK, 12)),
            customer(shop, n + 3, at(THIS_WEEK, 12), question=5),
        ]  # fmt: skip
    for one in made:  # one by one, in an order unlike answered_at
        await store(app, one)
    tables = ["report_units", "report_weeks", "report_days", "report_people"]

    def snapshot() -> dict[str, list[tuple[Any, ...]]]:
        with closing(sqlite3.connect(app.state.settings.database)) as conn:
            return {
                t: sorted(  # a cell emptied by a replaced answer may stay as a row of zeros
                    tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                    for row in conn.execute(f"SELECT * FROM {t}")
                    if t not in ("report_weeks", "report_days") or any(row[3:])
                )
                for t in tables
            }

    kept = snapshot()
    async with db_of(app).transaction() as tx:
        for sql, params in reports.rebuild_statements("Europe/Amsterdam"):
            await tx.execute(sql, params)
    rebuilt = snapshot()
    assert kept["report_units"] and kept["report_people"]
    for table in tables:
        assert kept[table] == rebuilt[table], table


def test_net_score_from_counts_equals_analytics_on_the_answers() -> None:
    values = [10, 9, 9, 8, 7, 6, 3, 0, 10, 10, 5]
    frame = pd.DataFrame({
        "respondent": [f"a{i}" for i in range(len(values))], "team": 1, "kind": "enps",
        "question": 3, "value": values, "scale_min": 0, "scale_max": 10,
        "answered_at": 1_790_000_000, "contact_ref": None, "aspect": None, "comment": None,
    })  # fmt: skip
    expected = analytics.net_score(analytics.localise(frame, "Europe/Amsterdam"), "enps")
    assert analytics.net_from_counts(5, 2, 4) == expected


def test_zone_offsets_find_every_change_of_the_clock() -> None:
    offsets = reports.zone_offsets(reports.ZoneInfo("Europe/Amsterdam"), until=2027)
    changes = [datetime.fromtimestamp(t, UTC) for t, _ in offsets if t >= 1_780_000_000]
    assert changes == [
        datetime(2026, 10, 25, 1, tzinfo=UTC),
        datetime(2027, 3, 28, 1, tzinfo=UTC),
    ] or changes[:1] == [datetime(2026, 10, 25, 1, tzinfo=UTC)]
    assert reports.zone_offsets(reports.ZoneInfo("UTC")) == [(-(10**12), 0)]


# --- the demo ----------------------------------------------------------------------------


async def test_the_demo_shop_alerts_and_its_lag_peaks_at_two_weeks(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    db = db_of(app)
    await demo.load(db, app.state.settings, clock())
    links = await demo.sign_in_links(db, app.state.settings, clock())
    link = next(link for role, _, link in links if role == "manager")
    await sign_in(client, link.rsplit("/", 1)[1])
    me = (await client.get("/api/v1/me")).json()
    who = person(me["id"], "manager", me["name"], "", None, None)
    period = reports.period_from(None, None, None, TODAY)

    found = await reports.overview(ctx_of(app), who, period)
    alerts = {s.team.name for s in found.teams if s.alert}
    shop = next(s.team.id for s in found.teams if s.team.name == "Winkel Utrecht")
    detail = await reports.team_detail(ctx_of(app), who, shop, period)

    assert alerts == {"Winkel Utrecht"}
    assert (await summary(client, shop))["summary"]["alert"] is True
    best = max((p for p in detail.lag if p.r is not None), key=lambda p: p.r or 0)
    assert best.k == 2 and best.r == pytest.approx(0.93, abs=0.01)
    assert detail.chart is not None and detail.chart.alert
    assert detail.summary.trends["mood"] == "down"


# --- actions -----------------------------------------------------------------------------


async def test_a_manager_records_an_action_on_their_team_and_it_shows_on_its_page(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    shop = await team(app, "Winkel")
    who = await manager(app, client, ["Winkel"])

    posted = await client.post(
        f"/api/v1/teams/{shop}/actions",
        json={"what": "Extra pauze ingeroosterd", "on": "2026-11-20"},
    )

    assert posted.status_code == 201, posted.text
    assert posted.json() == {
        "id": posted.json()["id"], "team_id": shop, "what": "Extra pauze ingeroosterd",
        "on": "2026-11-20", "who": "Lars", "created_at": int(clock()),
    }  # fmt: skip
    detail = await reports.team_detail(
        ctx_of(app), who, shop, reports.period_from(None, None, None, TODAY)
    )
    assert [(a.what, a.on) for a in detail.actions] == [
        ("Extra pauze ingeroosterd", date(2026, 11, 20))
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"what": "", "on": "2026-11-20"},
        {"what": "   ", "on": "2026-11-20"},
        {"what": "x" * 501, "on": "2026-11-20"},
        {"what": "regel\neen\x07", "on": "2026-11-20"},
        {"what": "Overleg", "on": "2026-02-31"},
        {"what": "Overleg", "on": "morgen"},
        {"what": "Overleg"},
        {"what": "Overleg", "on": "2026-11-20", "by": "iemand"},
    ],
)
async def test_a_bad_action_is_400_and_stores_nothing(
    app: Litestar, client: Client, body: dict[str, Any]
) -> None:
    shop = await team(app, "Winkel")
    await manager(app, client, ["Winkel"])
    posted = await client.post(f"/api/v1/teams/{shop}/actions", json=body)
    assert posted.status_code == 400, posted.text
    assert await db_of(app).fetch_value("SELECT COUNT(*) FROM team_actions") == 0


async def test_an_action_on_another_team_or_cross_site_is_403(
    app: Litestar, client: Client
) -> None:
    other = await team(app, "Kantoor")
    shop = await team(app, "Winkel")
    await manager(app, client, ["Winkel"])
    body = {"what": "Overleg", "on": "2026-11-20"}
    assert (await client.post(f"/api/v1/teams/{other}/actions", json=body)).status_code == 403
    foreign = await client.post(
        f"/api/v1/teams/{shop}/actions", json=body, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert await db_of(app).fetch_value("SELECT COUNT(*) FROM team_actions") == 0


# --- CSV -----------------------------------------------------------------------------------


async def test_the_csv_opens_in_dutch_excel_and_hides_small_groups_without_numbers(
    app: Litestar, client: Client
) -> None:
    big = await team(app, "Groot")
    small = await team(app, "Klein")
    await store(
        app, *[checkin(p, big, 1 + p % 2, at(LAST_WEEK)) for p in await staff(app, "Groot", 7)]
    )
    await store(app, *[checkin(p, small, 2, at(LAST_WEEK)) for p in await staff(app, "Klein", 3)])
    await manager(app, client, ["Groot", "Klein"])

    response = await client.get("/api/v1/reports/export.csv")

    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="spiegel-2026-11-02-2026-11-23.csv"'
    )
    raw = response.content
    assert (
        raw.startswith("\ufeff".encode())
        and b"\r\n" in raw
        and b"\n" not in raw.replace(b"\r\n", b"")
    )
    table = parse_csv(raw.decode("utf-8"))
    assert table[0] == reports.HEADER
    rows = {(r[0], r[4]): r for r in table[1:]}
    index = rows[("Groot", "mood_index")]
    assert index[5] == "57,1" and index[8] == "7" and index[6:8] == ["", ""]
    share = rows[("Groot", "mood_positive_share")]
    assert "," in share[6] and "," in share[7] and float(share[6].replace(",", ".")) < 57.1
    assert rows[("Klein", "mood_index")][5:] == ["", "", "", "", "fewer than 5 answers"]
    assert rows[("Groot", "csat")][5:] == ["", "", "", "", "no answers"]
    assert {r[0] for r in table[1:]} == {"Groot", "Klein"}


async def test_a_new_comment_and_a_new_pair_are_on_the_next_team_page(
    app: Litestar, client: Client
) -> None:
    shop = await team(app, "Winkel")
    ids = await staff(app, "Winkel", 10)
    await store(app, *[checkin(p, shop, 2, at(LAST_WEEK), comment=f"eerst {p}") for p in ids])
    who = await manager(app, client, ["Winkel"])
    period = reports.period_from(None, None, None, TODAY)
    first = await reports.team_detail(ctx_of(app), who, shop, period)
    assert len(first.comments or []) == 10 and first.self_vs_customer is None

    later = [checkin(ids[0], shop, 1, at(LAST_WEEK, 17), comment="later op de dag")]
    for n, p in enumerate(ids[:5]):
        ref = f"gesprek-{n}"
        later += [
            NewAnswer(id=str(uuid.uuid4()), question_id=2, value=2, answered_at=at(LAST_WEEK, 10),
                      source="app", person_id=p, team_id=shop, contact_ref=ref),
            NewAnswer(id=str(uuid.uuid4()), question_id=4, value=1, answered_at=at(LAST_WEEK, 11),
                      source="api", team_id=shop, contact_ref=ref),
        ]  # fmt: skip
    await store(app, *later)
    second = await reports.team_detail(ctx_of(app), who, shop, period)

    assert (second.comments or [])[0] == "later op de dag"
    assert second.self_vs_customer is not None
    assert (second.self_vs_customer.pairs, second.self_vs_customer.misses) == (5, 5)
