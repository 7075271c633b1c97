"""The manager view's pages, through the real app: who may look, what they see, what is hidden."""

from __future__ import annotations

import re
import sqlite3

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import demo
from tests.conftest import CSRF_INPUT, FakeClock, add_person, db_of, sign_in

BROWSER = {"Accept": "text/html"}


async def signed_in_manager(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    teams: list[str],
    email: str = "lars@example.org",
) -> int:
    """A manager of the named teams (created if new), signed in on the client."""
    from server import people

    person_id, token = await add_person(app, email=email, role="manager", team=None, name="Lars")
    db = db_of(app)
    for name in teams:
        async with db.transaction() as tx:
            team_id = await people.ensure_team(tx, name, None, 0)
        await people.add_team_manager(db, person_id, team_id)
    await sign_in(client, token)
    return person_id


def team_id(settings_db: str, name: str) -> int:
    with sqlite3.connect(settings_db) as conn:
        return int(conn.execute("SELECT id FROM teams WHERE name = ?", (name,)).fetchone()[0])


async def test_a_manager_lands_on_the_overview_of_their_teams(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await signed_in_manager(app, client, ["Klantenservice"])
    landing = await client.get("/", headers=BROWSER)
    assert str(landing.url).endswith("/manager")
    assert landing.status_code == 200
    assert "<h1>Je teams</h1>" in landing.text
    assert "Klantenservice" in landing.text


async def test_staff_get_403_and_strangers_401_on_every_manager_page(
    app: Litestar, client: AsyncTestClient[Litestar], db_path: str
) -> None:
    paths = ["/manager", "/manager/compare", "/manager/teams/1"]
    for path in paths:
        assert (await client.get(path, headers=BROWSER)).status_code == 401, path
    _, token = await add_person(app)  # staff of Klantenservice
    await sign_in(client, token)
    for path in paths:
        response = await client.get(path, headers=BROWSER)
        assert response.status_code == 403, path
        assert "Hier heb je geen toegang" in response.text


async def test_a_manager_gets_403_on_a_team_they_do_not_manage(
    app: Litestar, client: AsyncTestClient[Litestar], db_path: str
) -> None:
    await add_person(app, email="other@example.org", team="Winkel Utrecht")
    await signed_in_manager(app, client, ["Klantenservice"])
    other = team_id(db_path, "Winkel Utrecht")
    own = team_id(db_path, "Klantenservice")
    assert (await client.get(f"/manager/teams/{other}", headers=BROWSER)).status_code == 403
    assert (await client.get(f"/manager/teams/{own}", headers=BROWSER)).status_code == 200
    assert (await client.get("/manager/teams/9999", headers=BROWSER)).status_code == 404
    compare = await client.get(f"/manager/compare?team={other}", headers=BROWSER)
    assert compare.status_code == 403


async def test_a_small_team_says_fewer_than_k_answers_and_shows_no_number(
    app: Litestar, client: AsyncTestClient[Litestar], clock: FakeClock
) -> None:
    from tests.conftest import answer

    members = []
    for i in range(4):
        _, token = await add_person(app, email=f"s{i}@example.org", name=f"S{i}")
        members.append(token)
    for token in members:  # four phones, one after another on this client
        await sign_in(client, token)
        posted = await client.post(
            "/api/v1/answers", json={"answers": [answer(value=2, at=clock.iso(-3600))]}
        )
        assert posted.status_code == 200, posted.text
    await signed_in_manager(app, client, ["Klantenservice"])
    page = await client.get("/manager", headers=BROWSER)
    assert "Minder dan 5 antwoorden" in page.text
    tiles = re.findall(r'<dd class="value">', page.text)
    assert tiles == [], "no figure of a group of 4"


async def test_an_action_is_recorded_and_a_mistake_keeps_what_was_typed(
    app: Litestar, client: AsyncTestClient[Litestar], db_path: str
) -> None:
    await signed_in_manager(app, client, ["Klantenservice"])
    own = team_id(db_path, "Klantenservice")
    page = await client.get(f"/manager/teams/{own}", headers=BROWSER)
    token = CSRF_INPUT.search(page.text)
    assert token
    bad = await client.post(
        f"/manager/teams/{own}/actions",
        data={"_csrf_token": token.group(1), "what": "Teamoverleg over drukte", "on": "31-02-2026"},
        headers=BROWSER,
    )
    assert bad.status_code == 400
    assert 'value="Teamoverleg over drukte"' in bad.text
    assert "Kies een geldige datum." in bad.text
    good = await client.post(
        f"/manager/teams/{own}/actions",
        data={"_csrf_token": token.group(1), "what": "Teamoverleg over drukte", "on": "2026-11-20"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    shown = await client.get(f"/manager/teams/{own}", headers=BROWSER)
    assert "Teamoverleg over drukte" in shown.text
    assert 'class="marker"' in shown.text or "20 nov" in shown.text
    forged = await client.post(
        f"/manager/teams/{own}/actions", data={"what": "x", "on": "2026-11-20"}, headers=BROWSER
    )
    assert forged.status_code == 403


async def test_the_demo_shop_shows_its_alert_to_its_manager(
    app: Litestar, client: AsyncTestClient[Litestar], clock: FakeClock
) -> None:
    db = db_of(app)
    await demo.load(db, app.state.settings, clock())
    links = await demo.sign_in_links(db, app.state.settings, clock())
    manager = next(link for role, _, link in links if role == "manager")
    await sign_in(client, manager.rsplit("/", 1)[1])
    overview = await client.get("/manager", headers=BROWSER)
    assert overview.status_code == 200
    assert "Vroege waarschuwing" in overview.text
    alerts = overview.text.split('id="alerts-title"')[1].split("</section>")[0]
    assert "Winkel Utrecht" in alerts
    assert "Buitendienst" not in alerts
    shop = re.search(r'href="/manager/teams/(\d+)[^"]*">Winkel Utrecht', overview.text)
    assert shop
    page = await client.get(f"/manager/teams/{shop.group(1)}", headers=BROWSER)
    assert "Sterkste samenhang na 2 weken" in page.text
    assert "<svg" in page.text
