"""Sign-in by invite, sessions, cookies, CSRF, rate limits and role guards."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import auth, config, people
from server.app import create_app
from tests.conftest import CSRF_INPUT, FakeClock, add_person, db_of, sign_in, signed_in_staff

Client = AsyncTestClient[Litestar]
COOKIE = auth.SESSION_COOKIE


def session_rows(settings: config.Settings) -> list[sqlite3.Row]:
    conn = sqlite3.connect(settings.database)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM sessions ORDER BY created_at").fetchall()
    finally:
        conn.close()


def invite_used_at(settings: config.Settings, person_id: int) -> int | None:
    conn = sqlite3.connect(settings.database)
    try:
        row = conn.execute("SELECT used_at FROM invites WHERE person_id = ?", (person_id,))
        return row.fetchone()[0]  # type: ignore[no-any-return]
    finally:
        conn.close()


async def csrf_token(client: Client, path: str = "/home") -> str:
    """The CSRF field of a page's form, as the browser would submit it."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match, f"{path} carries a CSRF field"
    return match.group(1)


def use_cookie(client: Client, token: str) -> None:
    """Send exactly this session cookie from now on, as a browser holding only it would."""
    client.cookies.clear()
    client.cookies.set(COOKIE, token, domain="testserver.local")


async def me_status(client: Client) -> int:
    return (await client.get("/api/v1/me")).status_code


# --- invite sign-in ----------------------------------------------------------------------


async def test_invite_link_signs_a_staff_member_in_and_opens_the_app(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id, token = await add_person(app)

    page = await client.get(f"/signin/{token}")
    assert page.status_code == 200
    assert "Anna" in page.text
    assert invite_used_at(settings, person_id) is None, "opening the page uses nothing up"
    form = CSRF_INPUT.search(page.text)
    assert form
    response = await client.post(
        f"/signin/{token}", data={"_csrf_token": form.group(1)}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/app/"
    assert invite_used_at(settings, person_id) is not None
    [session] = session_rows(settings)
    assert session["person_id"] == person_id
    assert session["token_hash"] == auth.hash_token(client.cookies[COOKIE])
    me = (await client.get("/api/v1/me")).json()
    assert (me["id"], me["name"], me["role"]) == (person_id, "Anna", "staff")
    assert me["team"]["name"] == "Klantenservice"


async def test_manager_lands_on_the_manager_view_that_says_who_is_signed_in(
    app: Litestar, client: Client
) -> None:
    _, token = await add_person(app, email="mila@example.org", role="manager", name="Mila")

    await sign_in(client, token)
    home = await client.get("/")

    assert home.status_code == 200
    assert str(home.url).endswith("/manager")
    assert "Mila" in home.text


async def test_invite_works_only_once(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    _, token = await add_person(app)
    await sign_in(client, token)
    client.cookies.clear()

    assert (await client.get(f"/signin/{token}")).status_code == 410
    form = await client.post(f"/signin/{token}", data={}, follow_redirects=False)
    assert form.status_code in {403, 410}
    assert len(session_rows(settings)) == 1


async def test_invite_used_a_second_time_with_a_valid_form_gets_410(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    _, token = await add_person(app)
    page = await client.get(f"/signin/{token}")
    match = CSRF_INPUT.search(page.text)
    assert match
    first = await client.post(
        f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
    )
    assert first.status_code == 303

    again = await client.post(
        f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
    )

    assert again.status_code == 410
    assert len(session_rows(settings)) == 1


async def test_invite_expires(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    person_id, token = await add_person(app)
    page = await client.get(f"/signin/{token}")
    match = CSRF_INPUT.search(page.text)
    assert match
    clock.advance(settings.invite_hours * 3600 + 1)

    assert (await client.get(f"/signin/{token}")).status_code == 410
    late = await client.post(
        f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
    )

    assert late.status_code == 410
    assert invite_used_at(settings, person_id) is None
    assert session_rows(settings) == []


async def test_unknown_invite_token_gets_410(client: Client) -> None:
    assert (await client.get("/signin/not-a-token")).status_code == 410


async def test_invite_of_a_deactivated_person_does_not_sign_in(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id, token = await add_person(app)
    async with db_of(app).transaction() as tx:
        await tx.execute("UPDATE people SET active = 0 WHERE id = ?", (person_id,))

    assert (await client.get(f"/signin/{token}")).status_code == 410
    assert session_rows(settings) == []


async def test_invite_is_stored_only_as_a_hash(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    _, token = await add_person(app)

    conn = sqlite3.connect(settings.database)
    try:
        [(stored,)] = conn.execute("SELECT token_hash FROM invites").fetchall()
    finally:
        conn.close()
    assert stored == auth.hash_token(token)
    assert token not in stored


# --- sessions ----------------------------------------------------------------------------


async def test_session_expires_after_the_configured_days_without_use(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    assert await me_status(client) == 200

    clock.advance(settings.session_days * 86400 + 1)

    assert await me_status(client) == 401


async def test_session_slides_with_use(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    days = settings.session_days
    [before] = session_rows(settings)

    clock.advance(days * 86400 * 0.6)
    assert await me_status(client) == 200
    clock.advance(days * 86400 * 0.6)

    assert await me_status(client) == 200, "used within the window, so still signed in"
    [after] = session_rows(settings)
    assert after["expires_at"] == int(clock()) + days * 86400
    assert after["expires_at"] > before["expires_at"]


async def test_sliding_session_renews_the_cookie_lifetime_too(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    """Else the browser drops the cookie session_days after sign-in, however often it is used."""
    await signed_in_staff(app, client)
    token = client.cookies[COOKIE]
    clock.advance(2 * 86400)

    response = await client.get("/api/v1/me")

    renewed = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")]
    assert renewed, "the response re-sends the session cookie"
    assert f"{COOKIE}={token};" in renewed[0]
    assert f"Max-Age={settings.session_days * 86400}" in renewed[0]
    assert "HttpOnly" in renewed[0]


async def test_sign_out_after_a_pause_clears_the_cookie_instead_of_renewing_it(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    form = await csrf_token(client)
    clock.advance(2 * 86400)

    response = await client.post("/signout", data={"_csrf_token": form}, follow_redirects=False)

    assert response.status_code == 303
    cookie = _session_set_cookie(response.headers.get_list("set-cookie"))
    assert "Max-Age=0" in cookie
    assert COOKIE not in client.cookies


async def test_session_used_within_the_hour_is_not_rewritten(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    [before] = session_rows(settings)
    clock.advance(600)

    response = await client.get("/api/v1/me")

    assert response.status_code == 200
    assert not any(c.startswith(f"{COOKIE}=") for c in response.headers.get_list("set-cookie"))
    assert session_rows(settings)[0]["last_seen_at"] == before["last_seen_at"]


async def test_sign_out_ends_the_session(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    token = client.cookies[COOKIE]

    response = await client.post(
        "/signout", data={"_csrf_token": await csrf_token(client)}, follow_redirects=False
    )

    assert response.status_code == 303
    assert session_rows(settings) == []
    use_cookie(client, token)
    assert await me_status(client) == 401, "the old cookie is worthless"


async def test_revoke_sessions_signs_a_person_out_everywhere(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id = await signed_in_staff(app, client)
    phone = client.cookies[COOKIE]
    client.cookies.clear()
    token = await auth.create_invite(db_of(app), person_id, app.state.rate_limiter.clock(), 1)
    await sign_in(client, token)
    laptop = client.cookies[COOKIE]
    assert len(session_rows(settings)) == 2

    assert await people.revoke_sessions(db_of(app), person_id) == 2

    for cookie in (phone, laptop):
        use_cookie(client, cookie)
        assert await me_status(client) == 401
    assert session_rows(settings) == []


async def test_revocation_here_ends_a_session_that_was_just_used(
    app: Litestar, client: Client
) -> None:
    person_id = await signed_in_staff(app, client)
    assert await me_status(client) == 200, "the session is now among the recent ones"

    await people.revoke_sessions(db_of(app), person_id)

    assert await me_status(client) == 401


async def test_revocation_by_another_process_takes_effect_within_ten_seconds(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    assert await me_status(client) == 200
    with sqlite3.connect(settings.database) as other_process:
        other_process.execute("DELETE FROM sessions")

    clock.advance(10)

    assert await me_status(client) == 401


async def test_a_language_change_shows_at_once(app: Litestar, client: Client) -> None:
    await signed_in_staff(app, client)
    assert (await client.get("/api/v1/me")).json()["language"] is None

    await client.patch("/api/v1/me", json={"language": "en"})

    assert (await client.get("/api/v1/me")).json()["language"] == "en"


async def test_every_sign_in_gets_a_new_session_and_ends_the_old_one(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id = await signed_in_staff(app, client)
    old = client.cookies[COOKIE]
    token = await auth.create_invite(db_of(app), person_id, app.state.rate_limiter.clock(), 1)

    await sign_in(client, token)

    new = client.cookies[COOKIE]
    assert new != old
    assert [s["token_hash"] for s in session_rows(settings)] == [auth.hash_token(new)]
    use_cookie(client, old)
    assert await me_status(client) == 401


async def test_session_of_a_deactivated_person_no_longer_works(
    app: Litestar, client: Client
) -> None:
    person_id = await signed_in_staff(app, client)
    async with db_of(app).transaction() as tx:
        await tx.execute("UPDATE people SET active = 0 WHERE id = ?", (person_id,))

    assert await me_status(client) == 401


async def test_session_cookie_is_httponly_and_samesite_lax_but_not_secure_on_http(
    app: Litestar, client: Client
) -> None:
    _, token = await add_person(app)
    page = await client.get(f"/signin/{token}")
    match = CSRF_INPUT.search(page.text)
    assert match

    response = await client.post(
        f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
    )

    cookie = _session_set_cookie(response.headers.get_list("set-cookie"))
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie
    assert "Path=/" in cookie


@pytest.fixture
async def https_client(db_path: str, clock: FakeClock) -> AsyncIterator[tuple[Litestar, Client]]:
    settings = config.load({}, database=db_path, base_url="https://spiegel.example")
    app = create_app(settings, clock)
    async with AsyncTestClient(app, base_url="https://spiegel.example") as client:
        yield app, client


async def test_session_cookie_is_secure_when_the_base_url_is_https(
    https_client: tuple[Litestar, Client],
) -> None:
    app, client = https_client
    _, token = await add_person(app)
    page = await client.get(f"/signin/{token}")
    match = CSRF_INPUT.search(page.text)
    assert match

    response = await client.post(
        f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
    )

    assert response.status_code == 303
    cookie = _session_set_cookie(response.headers.get_list("set-cookie"))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    csrf_cookie = [c for c in page.headers.get_list("set-cookie") if c.startswith("csrftoken=")]
    assert csrf_cookie and "Secure" in csrf_cookie[0]


def _session_set_cookie(headers: list[str]) -> str:
    found = [h for h in headers if h.startswith(f"{COOKIE}=")]
    assert len(found) == 1, headers
    return found[0]


# --- CSRF --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", [None, "forged-token"])
async def test_forged_sign_out_form_is_refused_and_the_session_lives_on(
    app: Litestar, client: Client, settings: config.Settings, field: str | None
) -> None:
    await signed_in_staff(app, client)
    data = {} if field is None else {"_csrf_token": field}

    response = await client.post("/signout", data=data, follow_redirects=False)

    assert response.status_code == 403
    assert len(session_rows(settings)) == 1
    assert await me_status(client) == 200


async def test_forged_sign_in_form_is_refused_and_the_invite_stays_unused(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id, token = await add_person(app)
    await client.get(f"/signin/{token}")

    response = await client.post(
        f"/signin/{token}", data={"_csrf_token": "forged"}, follow_redirects=False
    )

    assert response.status_code == 403
    assert invite_used_at(settings, person_id) is None
    assert session_rows(settings) == []


# --- rate limits -------------------------------------------------------------------------


async def test_sign_in_burst_is_limited_and_the_limit_lifts_after_a_minute(
    client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    limit = settings.rate_limit_per_minute
    statuses = [(await client.get(f"/signin/guess-{i}")).status_code for i in range(limit)]
    assert set(statuses) == {410}

    blocked = await client.get("/signin/guess-again")

    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    clock.advance(60)
    assert (await client.get("/signin/guess-after")).status_code == 410


async def test_sign_in_posts_count_towards_the_same_limit(
    client: Client, settings: config.Settings
) -> None:
    for i in range(settings.rate_limit_per_minute):
        await client.get(f"/signin/guess-{i}")

    response = await client.post("/signin/guess", data={}, follow_redirects=False)

    assert response.status_code in {403, 429}
    assert (await client.get("/signin/guess")).status_code == 429


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/v1/answers"), ("GET", "/api/v1/questions")]
)
async def test_unauthenticated_burst_is_limited_and_the_limit_lifts_after_a_minute(
    client: Client, settings: config.Settings, clock: FakeClock, method: str, path: str
) -> None:
    for _ in range(settings.rate_limit_per_minute):
        assert (await client.request(method, path, json={})).status_code == 401

    blocked = await client.request(method, path, json={})

    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    clock.advance(60)
    assert (await client.request(method, path, json={})).status_code == 401


async def test_signed_in_person_is_not_limited_by_the_open_endpoint_limit(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    statuses = {
        (await client.get("/api/v1/questions")).status_code
        for _ in range(settings.rate_limit_per_minute + 5)
    }

    assert statuses == {200}


# --- roles -------------------------------------------------------------------------------


async def test_home_page_needs_a_signed_in_person(app: Litestar, client: Client) -> None:
    assert (await client.get("/home")).status_code == 401
    await signed_in_staff(app, client)

    home = await client.get("/home")

    assert home.status_code == 200
    assert "Anna" in home.text


async def test_api_key_may_not_act_as_a_person(app: Litestar, client: Client) -> None:
    key = await auth.create_api_key(db_of(app), "kassa", None, 0)
    headers = {"Authorization": f"Bearer {key}"}

    assert (await client.get("/api/v1/me", headers=headers)).status_code == 403
    assert (await client.get("/home", headers=headers)).status_code == 403
    assert (await client.get("/api/v1/questions", headers=headers)).status_code == 200


async def test_me_needs_a_sign_in(client: Client) -> None:
    response = await client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["detail"]


async def test_language_patch_that_is_not_utf8_gets_400_and_changes_nothing(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id = await signed_in_staff(app, client)

    response = await client.patch(
        "/api/v1/me", content=b'{"language": "\xff"}', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]
    conn = sqlite3.connect(settings.database)
    try:
        [(language,)] = conn.execute("SELECT language FROM people WHERE id = ?", (person_id,))
    finally:
        conn.close()
    assert language is None
