"""A customer link on a 360 px phone: a face, NPS and a reason, stored with the link's team and
the contact reference; nothing requested from elsewhere, no cookie, axe-core clean; a tap made
offline is sent when the phone is back online."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from server import customers
from server.db import Database
from tests.browser.conftest import PHONE, LiveServer, screenshot, set_offline, wait_for

AXE = Axe()
# Tap targets smaller than 48 x 48 CSS pixels (a label counts for its input), and sideways
# scrolling on a 360 px screen.
TOO_SMALL_OR_WIDE = """() => [...document.querySelectorAll('button, a[href], input, textarea')]
  .filter((el) => el.getClientRects().length)
  .map((el) => [el.id || el.textContent.trim(), el.closest('label') || el])
  .map(([name, target]) => [name, target.getBoundingClientRect()])
  .filter(([, r]) => r.width < 48 || r.height < 48)
  .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)
  .concat(document.documentElement.scrollWidth > document.documentElement.clientWidth
    ? ['sideways scroll'] : [])"""


def make_link(server: LiveServer) -> customers.Link:
    async def work() -> customers.Link:
        db: Database = server.app.state.db
        async with db.transaction() as tx:
            _, team_id = await tx.execute(
                "INSERT INTO teams (name, created_at) VALUES ('Balie', 0)"
            )
        asked = customers.link_questions(server.app.state.questions)
        assert team_id is not None
        return await customers.create_link(db, "Kassabon", team_id, asked, server.clock())

    return server.call(work())


def accessible(page: Page, name: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.evaluate(TOO_SMALL_OR_WIDE) == [], name
    screenshot(page, name)


def test_a_customer_taps_a_face_gives_nps_and_a_reason_on_a_phone(
    browser: Browser, server: LiveServer
) -> None:
    link = make_link(server)
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale="nl-NL")
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        page.goto(f"/c/{link.token}?ref=TCK-42")
        page.wait_for_function("() => document.getElementById('customer').dataset.ready === 'yes'")
        accessible(page, "customer-link-nl")

        page.locator(".face").nth(3).click()
        expect(page.locator("#saved")).to_be_visible()
        page.get_by_role("button", name="9", exact=True).click()
        page.locator("#reason").fill("Snel geholpen")
        accessible(page, "customer-link-follow-up-nl")
        page.get_by_role("button", name="Versturen").click()
        expect(page.locator("#thanks")).to_be_visible()
        wait_for(lambda: len(server.sql("SELECT id FROM answers")) == 2, what="two answers")
        accessible(page, "customer-link-thanks-nl")

        stored = server.sql(
            "SELECT q.kind, a.value, a.team_id, a.link_id, a.contact_ref, a.reason, a.source"
            " FROM answers a JOIN questions q ON q.id = a.question_id ORDER BY q.kind"
        )
        assert stored == [
            ("customer_csat", 4, link.team_id, link.id, "TCK-42", None, "link"),
            ("customer_nps", 9, link.team_id, link.id, "TCK-42", "Snel geholpen", "link"),
        ]
        assert context.cookies() == []
        assert requested and all(url.startswith(server.url + "/") for url in requested), requested

        # The same contact again: the page thanks instead of asking a second time.
        page.goto(f"/c/{link.token}?ref=TCK-42")
        expect(page.locator(".face")).to_have_count(0)
        expect(page.locator(".confirm")).to_contain_text("al")
    finally:
        context.close()


def test_a_tap_made_offline_is_sent_when_the_phone_is_back(
    browser: Browser, server: LiveServer
) -> None:
    link = make_link(server)
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale="en-GB")
    try:
        page = context.new_page()
        page.goto(f"/c/{link.token}")
        page.wait_for_function("() => document.getElementById('customer').dataset.ready === 'yes'")
        set_offline(context, server, True)

        page.locator(".face").first.click()
        expect(page.locator("#saved")).to_contain_text("online")
        assert server.sql("SELECT COUNT(*) FROM answers") == [(0,)]
        page.get_by_role("button", name="No thanks").click()
        set_offline(context, server, False)

        wait_for(lambda: server.sql("SELECT COUNT(*) FROM answers") == [(1,)], what="the answer")
        assert server.sql("SELECT value, team_id, link_id FROM answers") == [
            (1, link.team_id, link.id)
        ]
        screenshot(page, "customer-link-thanks-en")
    finally:
        context.close()
