"""The staff app trims a comment as the server counts it: by code points, never inside an emoji."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import LiveServer, sign_in, wait_for


def test_a_comment_over_the_limit_is_cut_between_characters_and_stored(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).click()
    wait_for(lambda: len(server.sql("SELECT id FROM answers")) == 1, what="the check-in")
    # 999 letters and an emoji are 1,000 characters but 1,001 UTF-16 units: cut by units, the
    # emoji would lose its second half (a lone surrogate the server refuses). Chromium's
    # maxlength counts units and stops such a text itself; Safari's counts what the eye
    # sees, and lets it through. The field gets it as Safari would hand it over.
    text = "a" * 999 + "\U0001f600" + "b"
    page.locator("#comment").evaluate(
        "(field, text) => { field.value = text;"
        " field.dispatchEvent(new Event('input', { bubbles: true })); }",
        text,
    )
    page.get_by_role("button", name="Toelichting opslaan").click()
    expect(page.locator(".card.checkin .notice")).to_have_text("Toelichting opgeslagen.")
    wait_for(
        lambda: server.sql("SELECT comment FROM answers WHERE comment IS NOT NULL") != [],
        what="the commented check-in stored",
    )
    assert server.sql("SELECT comment FROM answers WHERE comment IS NOT NULL") == [
        ("a" * 999 + "\U0001f600",)
    ]
