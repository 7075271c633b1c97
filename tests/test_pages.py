"""Server pages and errors: a browser gets a page in the design system, an API client JSON."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from tests.conftest import add_person, sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/no/such/page", 404, "Deze pagina bestaat niet"),
        ("/home", 401, "Je bent niet aangemeld"),
        ("/signin/not-a-token", 410, "Deze link werkt niet meer"),
    ],
)
async def test_a_browser_gets_an_error_page_with_a_way_on(
    client: AsyncTestClient[Litestar], path: str, status: int, title: str
) -> None:
    response = await client.get(path, headers=BROWSER)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text
    assert '<link rel="stylesheet" href="/app/app.css">' in response.text
    assert 'src="/app/icons/icon.svg"' in response.text
    assert '{"status_code"' not in response.text


async def test_the_401_page_says_how_to_sign_in_in_english(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/home", headers={**BROWSER, "Accept-Language": "en-GB,en"})
    assert response.status_code == 401
    assert "Open the sign-in link your administrator gave you" in response.text
    assert '<html lang="en">' in response.text


@pytest.mark.parametrize("path", ["/api/v1/me", "/no/such/page"])
async def test_api_clients_keep_json_errors(client: AsyncTestClient[Litestar], path: str) -> None:
    browser = BROWSER if path.startswith("/api/") else {}
    for headers in ({"Accept": "application/json"}, {}, browser):
        response = await client.get(path, headers=headers)
        assert response.headers["content-type"].startswith("application/json"), headers
        assert response.json()["status_code"] == response.status_code


async def test_a_browser_over_the_rate_limit_gets_a_page_that_says_how_long_to_wait(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    limit = app.state.rate_limiter.per_minute
    for _ in range(limit):
        await client.get("/signin/not-a-token", headers=BROWSER)
    response = await client.get("/signin/not-a-token", headers=BROWSER)
    assert response.status_code == 429
    wait = response.headers["retry-after"]
    assert int(wait) > 0
    assert f"Probeer het over {wait} seconden opnieuw" in response.text
    api = await client.get("/signin/not-a-token")
    assert api.status_code == 429
    assert api.json()["status_code"] == 429
    assert api.headers["retry-after"]


async def test_a_server_fault_is_a_page_without_internals_and_a_logged_traceback(
    app: Litestar, client: AsyncTestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    @get("/broken", sync_to_thread=False)
    def broken() -> str:
        raise RuntimeError("secret internals")

    app.register(broken)
    with caplog.at_level(logging.ERROR):
        page = await client.get("/broken", headers=BROWSER)
        api = await client.get("/broken")
    assert page.status_code == 500
    assert "<h1>Er ging iets mis bij ons</h1>" in page.text
    assert "secret internals" not in page.text
    assert api.status_code == 500
    assert api.json() == {"status_code": 500, "detail": "Internal Server Error"}
    assert "RuntimeError: secret internals" in caplog.text


async def test_back_to_a_just_used_sign_in_link_goes_home(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    _, token = await add_person(app)
    await sign_in(client, token)
    back = await client.get(f"/signin/{token}", headers=BROWSER, follow_redirects=False)
    assert back.status_code == 302
    assert back.headers["location"] == "/app/"
    # Signed in as someone else, the used link is simply used up.
    _, other = await add_person(app, email="bert@example.org", name="Bert")
    await sign_in(client, other)
    assert (await client.get(f"/signin/{token}", headers=BROWSER)).status_code == 410


async def test_the_sign_in_page_is_never_cached_and_leaks_no_referrer(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    _, token = await add_person(app)
    page = await client.get(f"/signin/{token}", headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_landing_and_home_pages_use_the_design_system(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    landing = await client.get("/", headers=BROWSER)
    assert "<h1>Welkom bij Spiegel</h1>" in landing.text
    _, token = await add_person(app, role="manager", team=None, name="Lars")
    await sign_in(client, token)
    home = await client.get("/home", headers=BROWSER)
    assert "<h1>Hallo Lars</h1>" in home.text
    assert 'class="top"' in home.text
    assert "<style>" not in home.text
