"""A phone shared by several people: the app's sign-out, and queued answers that never go in
under whoever is signed in now. Also: managers and admins answer only as members of a team."""

from __future__ import annotations

import sqlite3

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import config
from server.auth import SESSION_COOKIE
from tests.conftest import add_person, answer, sign_in, signed_in_staff

Client = AsyncTestClient[Litestar]
SIGNOUT = "/api/v1/session/signout"


def sessions(settings: config.Settings) -> int:
    with sqlite3.connect(settings.database) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


def stored(settings: config.Settings) -> list[tuple[str, int | None, int | None]]:
    with sqlite3.connect(settings.database) as conn:
        return list(conn.execute("SELECT id, person_id, team_id FROM answers"))


async def test_app_sign_out_ends_the_session_and_clears_the_cookie(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    token = client.cookies[SESSION_COOKIE]

    response = await client.post(SIGNOUT, json={})

    assert response.status_code == 204
    cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    assert cookie and "Max-Age=0" in cookie[0]
    assert sessions(settings) == 0
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_app_sign_out_refuses_a_form_post_and_a_foreign_origin(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    form = await client.post(SIGNOUT, data={"x": "1"})
    foreign = await client.post(SIGNOUT, json={}, headers={"Origin": "https://evil.example"})

    assert form.status_code == 403
    assert foreign.status_code == 403
    assert sessions(settings) == 1


async def test_app_sign_out_without_a_session_only_clears_the_cookie(client: Client) -> None:
    response = await client.post(SIGNOUT, json={})

    assert response.status_code == 204


async def test_answers_named_for_another_person_are_refused_and_not_stored(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    anna = await signed_in_staff(app, client)
    _, token = await add_person(app, email="bram@example.org", name="Bram")
    await sign_in(client, token)  # Bram now holds this phone's session

    theirs = await client.post(
        "/api/v1/answers", json={"answers": [answer()]}, headers={"X-Spiegel-Owner": str(anna)}
    )

    assert theirs.status_code == 403
    assert "another person" in theirs.json()["detail"]
    assert stored(settings) == []


async def test_answers_named_for_the_signed_in_person_are_stored(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    anna = await signed_in_staff(app, client)
    mine = answer()

    response = await client.post(
        "/api/v1/answers", json={"answers": [mine]}, headers={"X-Spiegel-Owner": str(anna)}
    )

    assert response.json()["results"] == [{"id": mine["id"], "status": "stored"}]
    assert [(row[0], row[1]) for row in stored(settings)] == [(mine["id"], anna)]


async def test_manager_in_no_team_learns_it_from_me(app: Litestar, client: Client) -> None:
    _, token = await add_person(app, email="mira@example.org", role="manager", team=None)
    await sign_in(client, token)

    me = (await client.get("/api/v1/me")).json()

    assert me["role"] == "manager" and me["team"] is None


async def test_manager_who_is_a_team_member_answers_as_staff_of_that_team(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    staff_id, _ = await add_person(app)  # makes the team Klantenservice
    manager_id, token = await add_person(app, email="mira@example.org", role="manager", team=None)
    with sqlite3.connect(settings.database) as conn:
        team_id = conn.execute("SELECT team_id FROM people WHERE id = ?", (staff_id,)).fetchone()
        conn.execute("UPDATE people SET team_id = ? WHERE id = ?", (team_id[0], manager_id))
    await sign_in(client, token)
    mine = answer()

    me = (await client.get("/api/v1/me")).json()
    response = await client.post("/api/v1/answers", json={"answers": [mine]})

    assert me["team"]["id"] == team_id[0]
    assert response.json()["results"] == [{"id": mine["id"], "status": "stored"}]
    assert stored(settings) == [(mine["id"], manager_id, team_id[0])]
