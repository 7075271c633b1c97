"""Every screen of the staff app and every server page, on a phone and a desk, in Dutch and
English, light and dark: axe-core clean, 48 px targets, no sideways scroll, a screenshot each
(tests/artifacts/screen-*.png)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from litestar import get
from litestar.exceptions import PermissionDeniedException
from playwright.sync_api import Browser, Page, expect

from server import admin, demo
from tests.browser.conftest import LiveServer, screenshot, set_offline
from tests.browser.test_a11y import check

SIZES = {"phone": {"width": 360, "height": 740}, "desk": {"width": 1280, "height": 800}}


@get("/test/forbidden", sync_to_thread=False, include_in_schema=False)
def forbidden() -> None:
    raise PermissionDeniedException(detail="not for you")


@get("/test/broken", sync_to_thread=False, include_in_schema=False)
def broken() -> None:
    raise RuntimeError("a fault inside the server")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("locale", ["nl-NL", "en-GB"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_screen_passes_in_every_look(
    browser: Browser, server: LiveServer, size: str, locale: str, scheme: str
) -> None:
    server.app.register(forbidden)
    server.app.register(broken)
    state = server.app.state
    setup = server.call(admin.issue_setup_link(state.db, server.clock()))
    assert setup is not None  # no administrator yet: the first-run page is there to see
    context = browser.new_context(
        base_url=server.url, viewport=SIZES[size], locale=locale, color_scheme=scheme
    )
    look = f"{size}-{locale[:2]}-{scheme}"
    try:
        page = context.new_page()

        def screen(name: str, path: str | None = None, status: int | None = None) -> None:
            if path is not None:
                response = page.goto(path)
                assert response is not None
                if status is not None:
                    assert response.status == status, path
            expect(page.locator("h1")).to_be_visible()
            check(page, f"screen-{name}-{look}")
            if size == "phone":
                screenshot(page, f"screen-{name}-{look}-full", full_page=True)

        screen("admin-setup", f"/setup/{setup}", 200)
        page.locator("#f-org_name").fill("")
        page.locator("#f-anonymity_k").fill("2")
        page.locator("form button[type=submit]").click()
        expect(page.locator(".field-error").first).to_be_visible()
        screen("admin-setup-errors")
        assert server.call(demo.load(state.db, state.settings, server.clock()))

        screen("landing", "/", 200)
        screen("error-401", "/home", 401)
        screen("error-403", "/test/forbidden", 403)
        screen("error-404", "/no/such/page", 404)
        screen("error-410", "/signin/unknown-token", 410)
        screen("error-500", "/test/broken", 500)

        _, token = server.add_staff()
        screen("signin", f"/signin/{token}", 200)
        page.get_by_role("button").click()
        page.wait_for_url("**/app/")
        page.locator(".card.enps").wait_for()
        screen("app-today-new")
        page.locator(".card.checkin .face").last.click()
        expect(page.locator("#comment")).to_be_visible()
        page.locator(".card.enps .scale button").nth(8).click()
        expect(page.locator("#outbox-status")).to_contain_text("✓")
        screen("app-today-answered")
        set_offline(context, server, True)
        page.locator(".card.contact .face").first.click()
        expect(page.locator("#outbox-status")).to_contain_text("1")
        screen("app-today-waiting")
        set_offline(context, server, False)
        expect(page.locator("#outbox-status")).to_contain_text("✓")
        server.execute("UPDATE questions SET active = 0 WHERE kind = 'contact_self'")
        page.locator(".card.contact .face").last.click()
        expect(page.locator(".card.rejected")).to_be_visible()
        screen("app-today-refused")
        server.execute("UPDATE questions SET active = 1 WHERE kind = 'contact_self'")
        page.goto("/app/#history")
        expect(page.locator("figure.chart")).to_have_count(2)  # days and contacts
        screen("app-history")
        context.clear_cookies()
        page.goto("/app/")
        expect(page.locator("#signed-out")).to_be_visible()
        screen("app-signed-out")

        links = server.call(demo.sign_in_links(state.db, state.settings, server.clock()))
        manager = next(link for role, _, link in links if role == "manager")
        page.goto("/signin/" + manager.rsplit("/", 1)[1])
        page.get_by_role("button").click()
        page.wait_for_url("**/manager")
        screen("manager-overview")
        page.get_by_role("link", name="Winkel Utrecht").first.click()
        expect(page.locator("svg.plot").first).to_be_visible()
        screen("manager-team")
        screen("manager-compare", "/manager/compare", 200)
        screen("home", "/home", 200)

        admin_screens(page, server, screen)

        limiter = server.app.state.rate_limiter
        while not limiter.hit("signin", "127.0.0.1"):
            pass
        screen("error-429", "/signin/unknown-token", 429)
    finally:
        context.close()


def admin_screens(page: Page, server: LiveServer, shoot: Callable[..., None]) -> None:
    """Every admin screen: the home and each of its sections (other rooms add theirs to
    admin.SECTIONS, and so to this walk), the import with its errors, a person, an invite
    sheet, and forms sent back with an error beside the field."""
    state = server.app.state

    def screen(name: str, path: str | None = None, status: int | None = None) -> None:
        shoot(name, path, status)
        # No catalogue key left untranslated on an admin screen, whichever room drew it.
        raw = re.findall(
            r"\b(?:admin|customer|kiosk|role)\.[a-z_]+(?:\.[a-z_]+)*\b", page.inner_text("main")
        )
        assert not [key for key in raw if not key.endswith((".org", ".nl", ".com"))], (name, raw)

    links = server.call(demo.sign_in_links(state.db, state.settings, server.clock()))
    boss = next(link for role, _, link in links if role == "admin")
    page.context.clear_cookies()
    page.goto("/signin/" + boss.rsplit("/", 1)[1])
    page.get_by_role("button").click()
    page.wait_for_url("**/manager")
    screen("admin-home", "/admin", 200)
    for section in admin.SECTIONS:
        screen("admin" + section.path.replace("/admin/", "-").replace("/", "-"), section.path, 200)

    page.goto("/admin/organisation")
    page.locator("#f-anonymity_k").fill("1")
    page.locator("form.card button[type=submit]").click()
    expect(page.locator("#e-anonymity_k")).to_be_visible()
    screen("admin-organisation-errors")

    page.goto("/admin/teams")
    page.locator("li.team details summary").first.click()
    screen("admin-teams-open")

    screen("admin-people-import", "/admin/people/import", 200)
    page.locator("#f-csv").fill(IMPORT_WITH_ERRORS)
    page.locator("button[value=check]").click()
    expect(page.locator("tr.bad-row").first).to_be_visible()
    screen("admin-people-import-errors")

    person = server.sql("SELECT id FROM people WHERE role = 'staff' ORDER BY id LIMIT 1")[0][0]
    screen("admin-person", f"/admin/people/{person}", 200)
    page.locator("#f-confirm").fill("not-their-address@example.org")
    page.locator("button.danger").click()
    expect(page.locator("#e-confirm")).to_be_visible()
    screen("admin-person-errors")
    page.locator("form[action='/admin/invites'] button").click()
    expect(page.locator(".qr-card")).to_have_count(1)
    screen("admin-invites")
    screen("admin-privacy-log", "/admin/privacy", 200)  # now with lines in the audit log
    expect(page.locator("#audit tbody td")).not_to_have_count(1)  # not "nothing yet"


IMPORT_WITH_ERRORS = """name,email,team,role
Bo de Wit,bo@example.org,Winkel Utrecht,staff
Cas Smit,cas@example.org,Nergens,staff
,not-an-address,Winkel Utrecht,staff
"""
