"""A new organisation's first ten minutes, in a real browser, from the setup link on."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Browser, BrowserContext, Page, expect

from server import admin, i18n
from tests.browser.conftest import PHONE, LiveServer, wait_for, wait_ready
from tests.conftest import add_person

say = i18n.translator("nl")
STAFF = [f"Medewerker {i:02d}" for i in range(1, 29)]
CSV_ROWS = (
    ["name,email,team,role", "Mia Manager,mia@example.org,Balie,manager"]
    + [f"{name},m{i:02d}@example.org,Balie,staff" for i, name in enumerate(STAFF, 1)]
    + ["Wim Winkel,wim@example.org,Winkel,staff"]
)


def a_kiosk_for_the_shop_floor(laptop: Page, server: LiveServer) -> None:
    """A kiosk for Winkel, made on the admin page and paired on a tablet with its code."""
    laptop.goto("/admin/kiosks")
    laptop.get_by_label(say("kiosk.admin.name"), exact=True).fill("Winkelvloer")
    laptop.get_by_label(say("kiosk.admin.team"), exact=True).select_option(label="Winkel")
    laptop.locator("#pin").fill("2468")
    laptop.get_by_role("button", name=say("kiosk.admin.create")).click()
    code = laptop.locator("#pairing-code").inner_text().replace("-", "")
    tablet = laptop.context.browser.new_context(  # type: ignore[union-attr]
        base_url=server.url, viewport={"width": 800, "height": 1280}, locale="nl-NL"
    )
    try:
        page = tablet.new_page()
        page.goto(f"/kiosk/pair?code={code}")
        page.locator("#pair").click()
        expect(page.locator("[data-view=question]")).to_be_visible()
    finally:
        tablet.close()
    [(team,)] = server.sql(
        "SELECT t.name FROM kiosks k JOIN teams t ON t.id = k.team_id WHERE k.name = 'Winkelvloer'"
    )
    assert team == "Winkel"


def a_customer_link_for_the_counter(laptop: Page, server: LiveServer) -> None:
    """A customer link for Balie; a customer's phone opens it and sees the question."""
    laptop.goto("/admin/links")
    laptop.get_by_label(say("customer.links.name")).fill("Kassabon")
    laptop.get_by_label(say("customer.links.team"), exact=True).select_option(label="Balie")
    laptop.get_by_role("button", name=say("customer.links.add")).click()
    href = laptop.locator("a[href*='/c/']").first.get_attribute("href")
    assert href is not None
    customer = laptop.context.browser.new_context(  # type: ignore[union-attr]
        base_url=server.url, viewport=PHONE, locale="nl-NL"
    )
    try:
        page = customer.new_page()
        page.goto("/c/" + href.rsplit("/c/", 1)[1])
        expect(page.get_by_role("button").first).to_be_visible()
        assert customer.cookies() == []
    finally:
        customer.close()


# The kiosk and the customer link, after the people and before the staff sign in.
LATER_STEPS: list[Callable[[Page, LiveServer], None]] = [
    a_kiosk_for_the_shop_floor,
    a_customer_link_for_the_counter,
]


def phone(browser: Browser, server: LiveServer) -> BrowserContext:
    context = browser.new_context(
        base_url=server.url,
        viewport=PHONE,
        locale="nl-NL",
        timezone_id="Europe/Amsterdam",
        service_workers="allow",
    )
    context.set_default_timeout(10_000)
    return context


def follow(page: Page, link: str, lands: str) -> None:
    # The sheet's links carry the server's public address (SPIEGEL_BASE_URL, else HOST:PORT);
    # this test server listens on another port, so follow the path.
    page.goto("/signin/" + link.rsplit("/signin/", 1)[1])
    page.get_by_role("button").click()
    page.wait_for_url(lands)


def test_a_new_organisation_gets_going_in_ten_minutes(
    browser: Browser, context: BrowserContext, server: LiveServer
) -> None:
    token = server.call(admin.issue_setup_link(server.app.state.db, server.clock()))
    assert token is not None
    laptop = context.new_page()
    laptop.set_viewport_size({"width": 1280, "height": 800})

    # Setup link: the organisation and its first administrator.
    laptop.goto(f"/setup/{token}")
    laptop.get_by_label(say("admin.org.name")).fill("Bakkerij Jansen")
    laptop.get_by_label(say("admin.org.timezone")).select_option("Europe/Amsterdam")
    laptop.get_by_label(say("admin.org.k")).fill("5")
    laptop.get_by_label(say("admin.person.name"), exact=True).fill("Ada Admin")
    laptop.get_by_label(say("admin.person.email")).fill("ada@example.org")
    laptop.get_by_role("button", name=say("admin.setup.button")).click()
    laptop.wait_for_url("**/admin")
    expect(laptop.get_by_role("heading", level=1)).to_have_text(say("admin.home.title"))

    # Two teams.
    laptop.get_by_role("link", name=say("admin.teams.title")).click()
    for name in ("Balie", "Winkel"):
        laptop.locator("#f-name").fill(name)
        laptop.get_by_role("button", name=say("admin.teams.add_button")).click()
        expect(laptop.locator("li.team h2", has_text=name)).to_be_visible()

    # Thirty people from a CSV, one of them a manager: checked first, then added.
    laptop.goto("/admin/people/import")
    laptop.locator("#f-csv").fill("\n".join(CSV_ROWS))
    laptop.get_by_role("button", name=say("admin.import.check")).click()
    expect(laptop.get_by_text(say("admin.import.ready", n=30))).to_be_visible()
    laptop.get_by_role("button", name=say("admin.import.button", n=30)).click()
    expect(laptop.get_by_text(say("admin.import.done", n=30))).to_be_visible()
    assert server.sql("SELECT COUNT(*) FROM people WHERE role <> 'admin'") == [(30,)]

    for step in LATER_STEPS:
        step(laptop, server)

    # Invite sheet for Balie: a printable QR code per person.
    laptop.goto("/admin/people")
    laptop.locator("#f-sheet-team").select_option(label="Balie")
    laptop.get_by_role("button", name=say("admin.invites.button")).click()
    cards = laptop.locator(".qr-card")
    expect(cards).to_have_count(29)  # its 28 staff and Mia, who manages it
    links = {
        cards.nth(i).locator("h2").inner_text(): cards.nth(i).locator("a").get_attribute("href")
        for i in range(29)
    }

    # A staff member signs in with their invite and checks in.
    staff = phone(browser, server)
    try:
        page = staff.new_page()
        follow(page, str(links[STAFF[0]]), "**/app/")
        wait_ready(page)
        page.locator(".card.checkin .face").last.click()
        expect(page.locator(".card.checkin .confirm")).to_be_visible()
        count = "SELECT COUNT(*) FROM answers"
        wait_for(lambda: server.sql(count) == [(1,)], what="the check-in stored")
    finally:
        staff.close()

    # The manager sees the team, suppressed while fewer than k have answered.
    boss = phone(browser, server)
    try:
        page = boss.new_page()
        follow(page, str(links["Mia Manager"]), "**/manager")
        team = page.locator("li.team", has_text="Balie")
        expect(team).to_be_visible()
        expect(team.locator(".suppressed")).to_have_text(say("manager.suppressed", k=5))
    finally:
        boss.close()


def test_an_organisation_offering_english_only_gets_english_pages_and_app(
    browser: Browser, context: BrowserContext, server: LiveServer
) -> None:
    _, token = server.call(add_person(server.app, email="ad@example.org", role="admin", team=None))
    laptop = context.new_page()  # a Dutch browser (nl-NL) throughout
    follow(laptop, f"/signin/{token}", "**/manager")
    laptop.goto("/admin/organisation")
    laptop.get_by_label(say("app.language.nl"), exact=True).uncheck()
    laptop.locator("#f-language").select_option("en")
    laptop.get_by_role("button", name=say("admin.save")).click()
    expect(laptop.locator("html")).to_have_attribute("lang", "en")  # this page already

    staff = phone(browser, server)
    try:
        page = staff.new_page()
        _, invite = server.add_staff()
        follow(page, f"/signin/{invite}", "**/app/")
        wait_ready(page)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#footer")).to_be_visible()
        expect(page.locator("#lang-nl")).to_have_count(0)  # nothing to switch to
        page.goto("/home")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        staff.close()
    assert server.sql("SELECT languages, default_language FROM organisation") == [("en", "en")]
