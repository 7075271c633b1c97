"""Offline: the shell comes from the cache, and answers wait for days without loss."""

from __future__ import annotations

import time

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    LiveServer,
    outbox,
    set_offline,
    sign_in,
    stored_ids,
    wait_for,
    wait_ready,
)

DAY = 24 * 3600


def rate_contact(page: Page, ref: str | None, face: str) -> None:
    if ref is not None:
        page.locator("#contact-ref").fill(ref)
    page.locator(".card.contact").get_by_role("button", name=face, exact=True).click()
    expect(page.locator(".card.contact .notice")).to_contain_text("beoordeeld")


def test_reload_offline_serves_the_shell_from_the_cache(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    set_offline(context, server, True)
    response = page.reload()
    assert response is not None and response.from_service_worker
    expect(page.get_by_role("heading", name="Prettige dag gehad?")).to_be_visible()
    expect(page.locator("#outbox-status")).to_have_count(0)  # nothing waits, nothing was sent


def test_four_answers_wait_offline_a_day_then_arrive_exactly_once(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    set_offline(context, server, True)
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).click()
    expect(page.locator(".card.checkin .notice")).to_contain_text("Opgeslagen: Goed")
    rate_contact(page, "A-1", "Goed")
    rate_contact(page, "A-2", "Niet goed")
    # The third contact comes from a link a contact-centre system opens, still offline.
    page.goto("/app/?ref=CALL-3")
    expect(page.locator("#contact-ref")).to_have_value("CALL-3")
    rate_contact(page, None, "Goed")
    expect(page.locator("#outbox-status")).to_contain_text("4 antwoorden wachten op verbinding")
    queued = {entry["id"]: entry["answer"] for entry in outbox(page)}
    assert len(queued) == 4
    page.close()

    server.clock.advance(DAY)
    later = context.new_page()
    later.clock.install(time=time.time() + DAY)
    later.goto("/app/")
    wait_ready(later)
    expect(later.locator("#outbox-status")).to_contain_text("4 antwoorden wachten op verbinding")
    # A new day: yesterday's check-in is history, today's is still open.
    expect(later.locator(".card.checkin [aria-pressed=true]")).to_have_count(0)
    assert {entry["id"] for entry in outbox(later)} == set(queued)
    assert stored_ids(server) == []

    set_offline(context, server, False)
    expect(later.locator("#outbox-status")).to_have_text("✓Alle antwoorden zijn verstuurd.")
    wait_for(lambda: outbox(later) == [], what="an empty outbox")
    assert sorted(stored_ids(server)) == sorted(queued)
    refs = server.sql("SELECT contact_ref FROM answers WHERE contact_ref IS NOT NULL")
    assert sorted(r[0] for r in refs) == ["A-1", "A-2", "CALL-3"]
