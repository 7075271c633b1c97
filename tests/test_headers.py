"""Security headers on every kind of response: pages, errors, the app's files, the API."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import config
from server.app import create_app
from tests.conftest import FakeClock, add_person, signed_in_staff

BROWSER = {"Accept": "text/html"}


def assert_page_headers(headers: object, what: str) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert "script-src 'self'" in csp, what
    assert "unsafe-inline" not in csp, what
    assert "frame-ancestors 'none'" in csp, what
    assert headers["x-frame-options"] == "DENY", what  # type: ignore[index]
    assert headers["x-content-type-options"] == "nosniff", what  # type: ignore[index]
    assert headers["referrer-policy"] in {"same-origin", "no-referrer"}, what  # type: ignore[index]


async def test_every_kind_of_page_carries_the_security_headers(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    _, token = await add_person(app)
    pages = {
        "landing": await client.get("/", headers=BROWSER),
        "sign-in": await client.get(f"/signin/{token}", headers=BROWSER),
        "error 404": await client.get("/no/such/page", headers=BROWSER),
        "error 401": await client.get("/home", headers=BROWSER),
        "error 410": await client.get("/signin/used-up", headers=BROWSER),
        "staff app shell": await client.get("/app/", headers=BROWSER),
    }
    for what, response in pages.items():
        assert response.headers["content-type"].startswith("text/html"), what
        assert_page_headers(response.headers, what)
    assert pages["sign-in"].headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in pages["landing"].headers


async def test_personal_api_answers_are_never_stored_by_a_cache(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await signed_in_staff(app, client)
    for path in ("/api/v1/me", "/api/v1/me/answers", "/api/v1/questions"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in response.headers, path
    refused = await client.get("/api/v1/nothing/here")
    assert refused.headers["cache-control"] == "no-store"


async def test_the_apps_own_files_keep_their_cache_rules(client: AsyncTestClient[Litestar]) -> None:
    css = await client.get("/app/app.css")
    assert css.headers["cache-control"] == "no-cache"
    assert css.headers["x-content-type-options"] == "nosniff"
    icon = await client.get("/app/icons/icon.svg")
    assert icon.headers["cache-control"].startswith("public")


@pytest.mark.parametrize(("base_url", "hsts"), [("https://spiegel.example.org", True), ("", False)])
async def test_hsts_only_under_an_https_address(
    db_path: str, clock: FakeClock, base_url: str, hsts: bool
) -> None:
    app = create_app(config.load({}, database=db_path, base_url=base_url), clock)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        response = await client.get("/", headers=BROWSER)
    assert ("strict-transport-security" in response.headers) is hsts
