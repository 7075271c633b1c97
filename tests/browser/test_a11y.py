"""Every staff page passes axe-core in Dutch and English, fits 360 px, and has 48 px targets."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PHONE, LiveServer, screenshot, set_offline, sign_in, wait_ready

AXE = Axe()

# Interactive elements smaller than 48 x 48 CSS pixels, and any sideways scrolling.
TOO_SMALL = """() => [...document.querySelectorAll('button, a[href], input, textarea, summary')]
  .filter((el) => el.getClientRects().length)
  .map((el) => [el.id || el.textContent.trim(), el.closest('label') || el])
  .map(([name, target]) => [name, target.getBoundingClientRect()])
  .filter(([, r]) => r.width < 48 || r.height < 48)
  .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def check(page: Page, name: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.evaluate(TOO_SMALL) == [], name
    assert page.evaluate(OVERFLOW) <= 0, name
    # No missing text: a raw catalogue key, or a null that slipped into the page.
    assert not re.search(r"\bapp\.[a-z]|\bnull\b|\bundefined\b", page.inner_text("body")), name
    screenshot(page, name)


def prepare(page: Page, server: LiveServer) -> None:
    """A busy home: a check-in with its comment box, a rated contact, one refused answer."""
    server.execute("UPDATE questions SET active = 1 WHERE kind = 'mirror_staff'")
    page.reload()
    wait_ready(page)
    page.locator(".card.checkin .face").last.click()
    expect(page.locator("#comment")).to_be_visible()
    page.locator("#contact-ref").fill("A11Y-1")
    page.locator(".card.contact .face").last.click()
    expect(page.locator(".card.contact .notice")).to_contain_text("A11Y-1")
    expect(page.locator("#outbox-status")).to_contain_text("✓")
    server.execute("UPDATE questions SET active = 0 WHERE kind = 'contact_self'")
    page.locator(".card.contact .face").first.click()
    expect(page.locator(".card.rejected")).to_be_visible()


@pytest.mark.parametrize("locale", ["nl-NL", "en-GB"])
def test_staff_pages_pass_axe_at_phone_size(
    browser: Browser, server: LiveServer, locale: str
) -> None:
    lang = locale[:2]
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale=locale)
    try:
        page = context.new_page()
        _, token = server.add_staff()
        page.goto(f"/signin/{token}")
        check(page, f"signin-{lang}")
        page.get_by_role("button").click()
        page.wait_for_url("**/app/")
        wait_ready(page)
        assert page.evaluate("document.documentElement.lang") == lang
        check(page, f"home-{lang}")
        prepare(page, server)
        page.evaluate("window.scrollTo(0, 0)")
        check(page, f"home-answered-{lang}")
        screenshot(page, f"home-answered-{lang}-full", full_page=True)
        page.goto("/app/#history")
        page.locator("details summary").first.click()
        expect(page.locator("table").first).to_be_visible()
        check(page, f"history-{lang}")
        set_offline(context, server, True)
        page.goto("/app/")
        wait_ready(page)
        page.locator(".card.checkin .face").first.click()
        expect(page.locator("#outbox-status")).to_contain_text("1")
        check(page, f"home-offline-{lang}")
    finally:
        context.close()


def test_signed_out_page_passes_axe(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale="nl-NL")
    try:
        page = context.new_page()
        page.goto("/app/")
        expect(page.get_by_role("heading", name="Niet aangemeld")).to_be_visible()
        check(page, "signed-out-nl")
    finally:
        context.close()


def test_faces_name_their_meaning_for_screen_readers(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale="nl-NL")
    try:
        page = context.new_page()
        sign_in(page, server)
        group = page.get_by_role("group", name="Prettige dag gehad?")
        buttons = group.get_by_role("button")
        expect(buttons).to_have_text(["Niet goed", "Goed"])
        assert [b.get_attribute("aria-pressed") for b in buttons.all()] == ["false", "false"]
        buttons.last.click()
        expect(group.get_by_role("button", name="Goed", pressed=True)).to_be_visible()
    finally:
        context.close()
