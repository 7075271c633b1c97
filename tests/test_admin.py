"""The admin room: first run, teams, people, CSV import, invites, questions, data protection."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import admin, answers, people, reports
from server.answers import NewAnswer
from tests.conftest import CSRF_INPUT, FakeClock, add_person, db_of, sign_in

Client = AsyncTestClient[Litestar]


def rows(app: Litestar, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(app.state.settings.database)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def csrf(client: Client, path: str = "/admin") -> str:
    page = await client.get(path)
    match = CSRF_INPUT.search(page.text)
    assert match, f"{path} carries a CSRF field"
    return match.group(1)


async def post(client: Client, path: str, data: dict[str, Any], page: str = "/admin") -> Any:
    return await client.post(
        path, data={"_csrf_token": await csrf(client, page), **data}, follow_redirects=False
    )


@asynccontextmanager
async def other_device(client: Client) -> AsyncIterator[Client]:
    """The same app seen from another browser: its own cookies, the admin's kept aside."""
    kept = httpx.Cookies(client.cookies)
    client.cookies.clear()
    try:
        yield client
    finally:
        client.cookies = kept


async def signed_in_admin(app: Litestar, client: Client) -> int:
    person_id, token = await add_person(
        app, email="ad@example.org", role="admin", team=None, name="Ada"
    )
    await sign_in(client, token)
    return person_id


# --- first run ---------------------------------------------------------------------------


async def test_setup_link_creates_the_organisation_and_signs_the_admin_in_once(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await admin.issue_setup_link(db_of(app), clock())
    assert token is not None
    assert rows(app, "SELECT token_hash FROM setup_tokens") != [(token,)]

    form = {
        "org_name": "Bakkerij Jansen",
        "timezone": "Europe/Brussels",
        "languages": ["en"],
        "language": "en",
        "anonymity_k": "6",
        "admin_name": "Ada",
        "admin_email": "Ada@Example.org",
    }
    done = await post(client, f"/setup/{token}", form, page=f"/setup/{token}")
    me = await client.get("/api/v1/me")
    again = await client.get(f"/setup/{token}")

    assert done.status_code == 303 and done.headers["location"] == "/admin"
    assert me.json()["email"] == "ada@example.org" and me.json()["role"] == "admin"
    assert again.status_code == 410
    assert rows(
        app, "SELECT name, timezone, languages, default_language, anonymity_k FROM organisation"
    ) == [("Bakkerij Jansen", "Europe/Brussels", "en", "en", 6)]
    assert app.state.settings.timezone == "Europe/Brussels"
    assert app.state.settings.anonymity_k == 6
    assert rows(app, "SELECT action, target FROM audit_log") == [
        ("organisation.setup", "Bakkerij Jansen")
    ]
    assert await admin.issue_setup_link(db_of(app), clock()) is None


async def test_setup_form_shows_errors_beside_fields_keeps_input_and_stores_nothing(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await admin.issue_setup_link(db_of(app), clock())
    form = {
        "org_name": "Bakkerij Jansen",
        "timezone": "Mars/Olympus",
        "languages": ["nl"],
        "language": "en",
        "anonymity_k": "2",
        "admin_name": "Ada",
        "admin_email": "not-mail",
    }

    done = await post(client, f"/setup/{token}", form, page=f"/setup/{token}")

    assert done.status_code == 400
    assert 'id="e-timezone"' in done.text and 'id="e-anonymity_k"' in done.text
    assert 'id="e-language"' in done.text and 'value="nl" checked' in done.text
    assert 'value="en" checked' not in done.text
    assert 'id="e-admin_email"' in done.text
    assert 'value="Bakkerij Jansen"' in done.text and 'value="not-mail"' in done.text
    assert rows(app, "SELECT COUNT(*) FROM people") == [(0,)]
    assert rows(app, "SELECT used_at FROM setup_tokens") == [(None,)]


async def test_a_setup_post_without_csrf_is_refused(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await admin.issue_setup_link(db_of(app), clock())
    form = {
        "org_name": "X",
        "timezone": "UTC",
        "language": "nl",
        "anonymity_k": "5",
        "admin_name": "Ada",
        "admin_email": "ada@example.org",
    }

    done = await client.post(f"/setup/{token}", data=form, follow_redirects=False)

    assert done.status_code == 403
    assert rows(app, "SELECT COUNT(*) FROM people") == [(0,)]


# --- teams and people ----------------------------------------------------------------------


async def test_teams_are_created_nested_renamed_and_archived_with_errors_beside_the_field(
    app: Litestar, client: Client
) -> None:
    await signed_in_admin(app, client)
    assert (
        await post(client, "/admin/teams", {"name": "Winkels", "parent": ""})
    ).status_code == 303
    [(shops,)] = rows(app, "SELECT id FROM teams WHERE name = 'Winkels'")
    made = await post(client, "/admin/teams", {"name": "Utrecht", "parent": str(shops)})
    taken = await post(client, "/admin/teams", {"name": "Utrecht", "parent": ""})
    [(utrecht,)] = rows(app, "SELECT id FROM teams WHERE name = 'Utrecht'")
    loop = await post(client, f"/admin/teams/{shops}", {"name": "Winkels", "parent": str(utrecht)})
    renamed = await post(
        client, f"/admin/teams/{utrecht}", {"name": "Utrecht CS", "parent": str(shops)}
    )
    archived = await post(client, f"/admin/teams/{utrecht}", {"archive": "1"})

    assert made.status_code == 303
    assert (
        taken.status_code == 400 and 'id="e-name"' in taken.text and 'value="Utrecht"' in taken.text
    )
    assert loop.status_code == 400 and "e-parent-" in loop.text
    assert (renamed.status_code, archived.status_code) == (303, 303)
    assert rows(app, "SELECT name, parent_id, archived_at IS NOT NULL FROM teams ORDER BY id") == [
        ("Winkels", None, 0),
        ("Utrecht CS", shops, 1),
    ]
    actions = [a for (a,) in rows(app, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["team.create", "team.create", "team.update", "team.archive"]


CSV = """name,email,team,role
Bo de Wit,bo@example.org,Balie,staff
Cas Smit,cas@example.org,Balie,manager
Dirk Vos,dirk@example.org,Nergens,staff
Eva Kok,not-an-address,Balie,staff
"""


async def test_csv_dry_run_shows_every_problem_and_stores_nothing_until_all_rows_are_right(
    app: Litestar, client: Client
) -> None:
    await signed_in_admin(app, client)
    await post(client, "/admin/teams", {"name": "Balie", "parent": ""})

    wrong = await post(client, "/admin/people/import", {"csv": CSV, "action": "import"})
    fixed = CSV.replace("Nergens", "Balie").replace("not-an-address", "eva@example.org")
    dry = await post(client, "/admin/people/import", {"csv": fixed, "action": "check"})
    count_after_dry = rows(app, "SELECT COUNT(*) FROM people")
    done = await post(client, "/admin/people/import", {"csv": fixed, "action": "import"})

    assert wrong.status_code == 400
    assert wrong.text.count('class="bad-row"') == 2 and "Dirk Vos" in wrong.text
    # Above the table too, so a phone shows them without scrolling sideways: rows 3 and 4.
    assert "<li>Regel 3: Team: Dat team bestaat niet" in wrong.text
    assert "<li>Regel 4: E-mailadres: Geen e-mailadres.</li>" in wrong.text
    assert count_after_dry == [(1,)] and dry.status_code == 200 and 'value="import"' in dry.text
    assert done.status_code == 303
    assert rows(app, "SELECT name, role FROM people WHERE role <> 'admin' ORDER BY id") == [
        ("Bo de Wit", "staff"),
        ("Cas Smit", "manager"),
        ("Dirk Vos", "staff"),
        ("Eva Kok", "staff"),
    ]
    assert rows(app, "SELECT p.name FROM team_managers m JOIN people p ON p.id = m.person_id") == [
        ("Cas Smit",)
    ]


async def test_an_invite_sheet_gives_working_one_time_links_with_qr_codes_and_voids_older_ones(
    app: Litestar, client: Client
) -> None:
    await signed_in_admin(app, client)
    person_id, old_token = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    [(team_id,)] = rows(app, "SELECT id FROM teams WHERE name = 'Balie'")

    sheet = await post(client, "/admin/invites", {"team": str(team_id)}, page="/admin/people")

    assert sheet.status_code == 200
    assert sheet.text.count("<svg") == 1 and "QR" in sheet.text
    link = sheet.text.split('<a href="http://testserver.local/signin/')[0]
    tokens = [t.split('"')[0] for t in sheet.text.split("/signin/")[1:]]
    assert tokens and link
    async with other_device(client) as phone:
        assert (await phone.get(f"/signin/{old_token}")).status_code == 410
        await sign_in(phone, tokens[0])
        assert (await phone.get("/api/v1/me")).json()["id"] == person_id


async def test_a_deactivated_person_is_signed_out_cannot_sign_in_and_keeps_their_answers(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_admin(app, client)
    person_id, token = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    async with other_device(client) as phone:
        await sign_in(phone, token)
        assert (await phone.get("/api/v1/me")).status_code == 200
        bo_cookies = httpx.Cookies(phone.cookies)
    await store(app, person_id, clock, 3)
    done = await post(
        client,
        f"/admin/people/{person_id}/active",
        {"active": "0"},
        page=f"/admin/people/{person_id}",
    )
    async with other_device(client) as phone:
        phone.cookies = bo_cookies
        me = await phone.get("/api/v1/me")
        again = await phone.get(f"/signin/{token}")
    invite = await post(client, "/admin/invites", {"person": str(person_id)}, "/admin/people")

    assert done.status_code == 303
    assert me.status_code == 401
    assert again.status_code == 410
    assert invite.status_code == 404
    assert rows(app, "SELECT COUNT(*) FROM answers WHERE person_id = ?", (person_id,)) == [(3,)]
    assert rows(app, "SELECT active FROM people WHERE id = ?", (person_id,)) == [(0,)]


async def test_the_last_admin_cannot_be_demoted_or_deactivated(
    app: Litestar, client: Client
) -> None:
    me = await signed_in_admin(app, client)

    demote = await post(
        client,
        f"/admin/people/{me}",
        {"name": "Ada", "role": "staff", "team": ""},
        page=f"/admin/people/{me}",
    )
    leave = await post(client, f"/admin/people/{me}/active", {"active": "0"}, f"/admin/people/{me}")

    assert demote.status_code == 400 and 'id="e-role"' in demote.text
    assert leave.status_code == 400
    assert rows(app, "SELECT role, active FROM people WHERE id = ?", (me,)) == [("admin", 1)]


async def test_a_manager_is_assigned_teams_on_their_page(app: Litestar, client: Client) -> None:
    await signed_in_admin(app, client)
    person_id, _ = await add_person(app, email="cas@example.org", team="Balie", name="Cas")
    await add_person(app, email="x@example.org", team="Winkel", name="X")
    teams = dict(rows(app, "SELECT name, id FROM teams"))

    none = await post(
        client,
        f"/admin/people/{person_id}",
        {"name": "Cas", "role": "manager"},
        f"/admin/people/{person_id}",
    )
    page = f"/admin/people/{person_id}"
    form = {
        "_csrf_token": await csrf(client, page),
        "name": "Cas",
        "role": "manager",
        "team": "",
        "manages": [str(teams["Balie"]), str(teams["Winkel"])],
    }
    done = await client.post(page, data=form, follow_redirects=False)

    assert none.status_code == 400 and 'id="e-manages"' in none.text
    assert done.status_code == 303
    assert rows(
        app, "SELECT team_id FROM team_managers WHERE person_id = ? ORDER BY team_id", (person_id,)
    ) == [(teams["Balie"],), (teams["Winkel"],)]


async def test_editing_a_person_refuses_an_archived_team_beside_the_field(
    app: Litestar, client: Client
) -> None:
    await signed_in_admin(app, client)
    bo, _ = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    oud, _ = await add_person(app, email="oud@example.org", team="Oud", name="Oud")
    cas, _ = await add_person(app, email="cas@example.org", team="Balie", name="Cas")
    teams = dict(rows(app, "SELECT name, id FROM teams"))
    assert (await post(client, f"/admin/teams/{teams['Oud']}", {"archive": "1"})).status_code == 303

    async def edit(person: int, **form: Any) -> Any:
        page = f"/admin/people/{person}"
        data = {"_csrf_token": await csrf(client, page), "name": "Naam", "role": "staff", **form}
        return await client.post(page, data=data, follow_redirects=False)

    moved = await edit(bo, team=str(teams["Oud"]))
    managing = await edit(cas, role="manager", team="", manages=[str(teams["Oud"])])
    missing = await edit(bo, team="9999")
    staying = await edit(oud, team=str(teams["Oud"]))  # already in it: a rename still works

    assert moved.status_code == 400 and 'id="e-team"' in moved.text
    assert "gearchiveerd" in moved.text and 'value="Naam"' in moved.text
    assert managing.status_code == 400 and 'id="e-manages"' in managing.text
    assert missing.status_code == 400 and 'id="e-team"' in missing.text
    assert staying.status_code == 303
    people_now = "SELECT id, name, role, team_id FROM people WHERE id IN (?, ?, ?) ORDER BY id"
    assert rows(app, people_now, (bo, oud, cas)) == [
        (bo, "Bo", "staff", teams["Balie"]),
        (oud, "Naam", "staff", teams["Oud"]),
        (cas, "Cas", "staff", teams["Balie"]),
    ]
    assert rows(app, "SELECT COUNT(*) FROM team_managers WHERE person_id = ?", (cas,)) == [(0,)]


# --- questions -------------------------------------------------------------------------------


async def test_new_faces_on_a_question_with_answers_make_a_new_question(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_admin(app, client)
    person_id, _ = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    await store(app, person_id, clock, 1)
    form = {"text_nl": "Fijne dag?", "text_en": "Good day?", "faces": "5", "active": "1"}

    empty = await post(client, "/admin/questions/1", {**form, "text_en": " "}, "/admin/questions")
    done = await post(client, "/admin/questions/1", form, "/admin/questions")
    listed = await client.get("/api/v1/questions")

    assert empty.status_code == 400 and 'id="e-text_en-1"' in empty.text
    assert done.status_code == 303
    assert rows(app, "SELECT id, scale_max, active FROM questions WHERE kind = 'checkin'") == [
        (1, 2, 0),
        (12, 5, 1),
    ]
    assert rows(app, "SELECT question_id FROM answers") == [(1,)]
    checkins = [q for q in listed.json()["questions"] if q["kind"] == "checkin"]
    assert [(q["id"], q["texts"]["en"]) for q in checkins] == [(12, "Good day?")]


async def test_a_mirror_round_opens_and_closes_the_mirror_questions(
    app: Litestar, client: Client
) -> None:
    await signed_in_admin(app, client)
    page = "/admin/questions"
    form = {
        "_csrf_token": await csrf(client, page),
        "action": "open",
        "aspects": ["speed", "expertise"],
    }

    opened = await client.post("/admin/mirror", data=form, follow_redirects=False)
    active = rows(
        app,
        "SELECT kind, aspect FROM questions WHERE active = 1 AND aspect IS NOT NULL ORDER BY id",
    )
    closed = await post(client, "/admin/mirror", {"action": "close"}, page)

    assert opened.status_code == 303 and closed.status_code == 303
    assert active == [
        ("mirror_staff", "speed"),
        ("mirror_staff", "expertise"),
        ("customer_mirror", "speed"),
        ("customer_mirror", "expertise"),
    ]
    assert rows(app, "SELECT COUNT(*) FROM questions WHERE active = 1 AND aspect IS NOT NULL") == [
        (0,)
    ]
    assert rows(app, "SELECT aspects, closed_at IS NOT NULL FROM mirror_rounds") == [
        ("expertise speed", 1)
    ]


# --- data protection ---------------------------------------------------------------------------


async def store(app: Litestar, person_id: int, clock: FakeClock, count: int) -> None:
    [(team_id,)] = rows(app, "SELECT team_id FROM people WHERE id = ?", (person_id,))
    made = [
        NewAnswer(
            id=str(uuid.uuid4()),
            question_id=1,
            value=2,
            answered_at=int(clock() - 86400 * i),
            source="app",
            person_id=person_id,
            team_id=team_id,
            comment="fijn" if i == 0 else None,
        )
        for i in range(count)
    ]
    await answers.store_batch(db_of(app), made, clock())


async def test_export_holds_the_persons_answers_and_devices(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_admin(app, client)
    person_id, token = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    async with other_device(client) as phone:
        await sign_in(phone, token)
    await store(app, person_id, clock, 2)

    got = await client.get(f"/admin/people/{person_id}/export.json")

    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    data = json.loads(got.content)
    assert data["person"]["email"] == "bo@example.org" and data["person"]["team"] == "Balie"
    assert len(data["answers"]) == 2 and {a["comment"] for a in data["answers"]} == {"fijn", None}
    assert len(data["devices"]) == 1
    assert rows(app, "SELECT action, target FROM audit_log") == [
        ("person.export", "bo@example.org")
    ]


async def test_delete_removes_the_answers_recomputes_the_aggregates_and_is_logged(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_admin(app, client)
    bo, _ = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    cas, _ = await add_person(app, email="cas@example.org", team="Balie", name="Cas")
    await store(app, bo, clock, 3)
    await store(app, cas, clock, 2)
    await reports.ensure_rollups(app.state.settings and _ctx(app))
    before = rows(app, "SELECT SUM(n) FROM report_weeks WHERE kind = 'checkin'")
    page = f"/admin/people/{bo}"

    wrong = await post(client, f"/admin/people/{bo}/delete", {"confirm": "bo@example.com"}, page)
    done = await post(client, f"/admin/people/{bo}/delete", {"confirm": "BO@example.org"}, page)

    assert wrong.status_code == 400 and 'id="e-confirm"' in wrong.text
    assert done.status_code == 303
    assert before == [(5,)]
    assert rows(app, "SELECT SUM(n) FROM report_weeks WHERE kind = 'checkin'") == [(2,)]
    assert rows(app, "SELECT COUNT(*) FROM report_units WHERE person_id = ?", (bo,)) == [(0,)]
    assert rows(app, "SELECT COUNT(*) FROM answers WHERE person_id = ?", (bo,)) == [(0,)]
    assert rows(app, "SELECT COUNT(*) FROM people WHERE id = ?", (bo,)) == [(0,)]
    logged = "SELECT action, target, detail FROM audit_log WHERE action = 'person.delete'"
    assert rows(app, logged) == [("person.delete", "bo@example.org", "3 answers")]
    log = await client.get("/admin/privacy")
    assert "bo@example.org" in log.text and "verwijderde iemand" in log.text


ROLLUPS = {
    "report_weeks": "SELECT team_id, week, kind, n, score, positive, top, promoters, detractors,"
    " anonymous, persons FROM report_weeks ORDER BY team_id, week, kind",
    "report_days": "SELECT team_id, day, question_id, n, score FROM report_days"
    " ORDER BY team_id, day, question_id",
    "report_people": "SELECT * FROM report_people ORDER BY week, person_id, kind, team_id",
    "report_units": "SELECT * FROM report_units ORDER BY day, person_id, question_id, unit",
}


def rollups(app: Litestar) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row, scores rounded (a sum taken off again leaves float dust)."""
    return {
        table: [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows(app, q)]
        for table, q in ROLLUPS.items()
    }


async def test_after_a_delete_the_rollups_equal_a_full_rebuild_without_the_person(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    ids = {}
    for name, team in (("bo", "Balie"), ("cas", "Balie"), ("dex", "Winkel"), ("eva", "Winkel")):
        ids[name], _ = await add_person(app, email=f"{name}@example.org", team=team, name=name)
    [(balie,)] = rows(app, "SELECT id FROM teams WHERE name = 'Balie'")
    [(winkel,)] = rows(app, "SELECT id FROM teams WHERE name = 'Winkel'")
    now, day = int(clock()), 86400

    def one(
        person: str | None, question: int, value: int, at: int, team: int, **more: Any
    ) -> NewAnswer:
        return NewAnswer(
            id=str(uuid.uuid4()),
            question_id=question,
            value=value,
            answered_at=at,
            source="app" if person else "kiosk",
            person_id=ids[person] if person else None,
            team_id=team,
            **more,
        )

    made = []
    for i in range(20):  # three weeks of check-ins, contacts and an eNPS, for everyone
        at = now - i * day
        for n, (name, team) in enumerate((("bo", balie), ("cas", balie), ("dex", winkel))):
            made.append(one(name, 1, 1 + (i + n) % 2, at, team))
            made.append(one(name, 2, 2, at, team, contact_ref=f"C-{name}-{i % 3}"))
        made.append(one(None, 4, 1 + i % 4, at, winkel))  # a kiosk's customers
    made += [
        one("bo", 1, 1, now - 3600, balie),  # a later check-in the same day replaces one
        one("bo", 1, 2, now - 2 * day, winkel),  # bo helped out in Winkel that week
        one("bo", 3, 10, now - 2 * day, winkel),  # the only eNPS of Winkel that week
        one("bo", 1, 2, now - 30 * day, winkel),  # the only check-in of Winkel that week
        one("bo", 3, 9, now - 5 * day, balie),
        one("cas", 3, 4, now - 5 * day, balie),
        one("eva", 1, 2, now - 2 * day, winkel),
    ]
    await answers.store_batch(db_of(app), made, clock())
    ctx = _ctx(app)
    await reports.ensure_rollups(ctx)
    person = await people.get_person(db_of(app), ids["bo"])
    assert person is not None
    with_bo = rollups(app)

    deleted = await admin.remove_person(ctx, None, person)
    subtracted = rollups(app)
    async with db_of(app).transaction() as tx:
        await reports.recompute(tx, ctx.settings.timezone)
    rebuilt = rollups(app)

    assert deleted == 20 * 2 + 5
    assert subtracted == rebuilt
    assert subtracted != with_bo
    assert not [r for r in subtracted["report_people"] if r[1] == ids["bo"]]


async def test_comments_past_the_retention_period_are_erased_and_the_answers_stay(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_admin(app, client)
    bo, _ = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    await store(app, bo, clock, 1)
    clock.advance(40 * 86400)
    await store(app, bo, clock, 1)  # a new answer today, with its comment
    form = {
        "org_name": "Spiegel",
        "timezone": "Europe/Amsterdam",
        "languages": ["nl", "en"],
        "language": "nl",
        "anonymity_k": "5",
        "comment_retention_days": "30",
        "enps_months": "1",
    }
    bad = await post(client, "/admin/organisation", {**form, "comment_retention_days": "-4"})
    assert bad.status_code == 400 and 'id="e-comment_retention_days"' in bad.text
    assert (await post(client, "/admin/organisation", form)).status_code == 303

    erased = await admin.erase_old_comments(_ctx(app))

    assert erased == 1
    assert rows(app, "SELECT COUNT(*), COUNT(comment) FROM answers") == [(2, 1)]
    assert ("comments.erase",) in rows(app, "SELECT action FROM audit_log")


async def test_the_organisation_chooses_the_languages_its_pages_and_app_speak(
    app: Litestar, client: Client
) -> None:
    await signed_in_admin(app, client)
    form = {
        "org_name": "Spiegel",
        "timezone": "Europe/Amsterdam",
        "languages": ["nl"],
        "language": "nl",
        "anonymity_k": "5",
        "comment_retention_days": "",
        "enps_months": "1",
    }
    english = {"accept-language": "en-GB,en;q=0.9"}
    before = await client.get("/admin", headers=english)
    none = await post(client, "/admin/organisation", {**form, "languages": []})
    assert none.status_code == 400 and 'id="e-languages"' in none.text
    assert (await post(client, "/admin/organisation", form)).status_code == 303

    dutch_only = await client.get("/admin", headers=english)
    me = (await client.get("/api/v1/me")).json()
    refused = await client.patch("/api/v1/me", json={"language": "en"})
    both = {**form, "languages": ["nl", "en"], "language": "en"}
    assert (await post(client, "/admin/organisation", both)).status_code == 303
    again = await client.get("/admin", headers=english)
    neither = await client.get("/admin", headers={"accept-language": "de"})

    assert '<html lang="en">' in before.text
    assert '<html lang="nl">' in dutch_only.text
    assert (me["languages"], me["default_language"]) == (["nl"], "nl")
    assert refused.status_code == 400
    assert '<html lang="en">' in again.text
    assert '<html lang="en">' in neither.text  # the default, now English
    assert rows(app, "SELECT languages, default_language FROM organisation") == [("nl en", "en")]


async def test_the_audit_log_names_another_rooms_action_it_has_no_words_for(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_admin(app, client)
    await admin.audit(db_of(app), None, "kiosk.pair", "Winkel", clock())

    page = await client.get("/admin/privacy")

    assert page.status_code == 200
    assert "kiosk.pair" in page.text and "admin.audit.kiosk.pair" not in page.text


def _ctx(app: Litestar) -> Any:
    for dependency in app.dependencies.values():
        return dependency.dependency()
    raise AssertionError("the app provides its Context")


async def test_the_enps_cadence_decides_when_enps_is_due(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    from server import people

    await signed_in_admin(app, client)
    bo, _ = await add_person(app, email="bo@example.org", team="Balie", name="Bo")
    form = {
        "org_name": "Spiegel",
        "timezone": "Europe/Amsterdam",
        "languages": ["nl", "en"],
        "language": "nl",
        "anonymity_k": "5",
        "comment_retention_days": "",
        "enps_months": "3",
    }
    await answers.store_batch(
        db_of(app),
        [
            NewAnswer(
                id=str(uuid.uuid4()),
                question_id=3,
                value=9,
                answered_at=int(clock() - 40 * 86400),
                source="app",
                person_id=bo,
                team_id=None,
            )
        ],
        clock(),
    )  # 14 October; now 23 November
    settings = app.state.settings

    monthly = await people.enps_due(db_of(app), bo, clock(), settings)
    assert (await post(client, "/admin/organisation", form)).status_code == 303
    quarterly = await people.enps_due(db_of(app), bo, clock(), settings)
    assert (
        await post(client, "/admin/organisation", {**form, "enps_months": "0"})
    ).status_code == 303
    never = await people.enps_due(db_of(app), bo, clock(), settings)

    assert (monthly, quarterly, never) == (True, False, False)
