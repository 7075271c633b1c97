"""A phone shared by two people: an answer belongs to whoever gave it, offline or not, and
after a sign-out nothing of the person stays on the screen."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from server import auth
from server.auth import SESSION_COOKIE
from tests.browser.conftest import (
    LiveServer,
    follow_invite,
    outbox,
    set_offline,
    sign_in,
    stored_ids,
    wait_for,
    wait_ready,
)
from tests.browser.test_a11y import check
from tests.conftest import add_person

DAY = 24 * 3600
ALL_SENT = "✓Alle antwoorden zijn verstuurd."
# Everything this origin keeps outside the outbox: local storage and the workers' caches.
KEPT = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) urls.push(request.url);
  }
  return { storage: JSON.stringify({ ...localStorage }), cached: urls };
}"""


def face(page: Page, card: str, name: str) -> None:
    page.locator(f".card.{card}").get_by_role("button", name=name, exact=True).click()


def answer_as_anna(page: Page) -> None:
    face(page, "checkin", "Goed")
    expect(page.locator(".card.checkin .notice")).to_contain_text("Opgeslagen: Goed")
    page.locator("#contact-ref").fill("ANNA-1")
    face(page, "contact", "Niet goed")
    expect(page.locator(".card.contact .notice")).to_contain_text("ANNA-1")


def sign_out(page: Page) -> None:
    # The app starts afresh after a sign-out, so that its memory holds nothing either.
    with page.expect_navigation():
        page.get_by_role("button", name="Afmelden").click()
    expect(page.get_by_role("heading", name="Niet aangemeld")).to_be_visible()


def owners(server: LiveServer) -> dict[str, int]:
    return dict(server.sql("SELECT id, person_id FROM answers"))


def kept(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(KEPT)
    return found


def new_invite(server: LiveServer, person_id: int) -> str:
    return server.call(auth.create_invite(server.app.state.db, person_id, server.clock(), 24))


def test_one_persons_offline_answers_are_never_stored_under_the_next(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    anna = sign_in(page, server)
    set_offline(context, server, True)
    answer_as_anna(page)
    tapped = {e["id"]: e["answer"]["answered_at"] for e in outbox(page)}
    assert len(tapped) == 2 and {e["owner"] for e in outbox(page)} == {anna}

    # Anna signs out while still offline: the server hears of it later.
    sign_out(page)
    expect(page.locator("#others-waiting")).to_contain_text("2 antwoorden van iemand anders")
    expect(page.locator("body")).not_to_contain_text("Anna")
    check(page, "app-signed-out-others-waiting")

    set_offline(context, server, False)
    bram, token = server.add_staff(email="bram@example.org", name="Bram")
    follow_invite(page, token)
    expect(page.get_by_role("heading", name="Hallo Bram")).to_be_visible()
    expect(page.locator("#others-waiting")).to_contain_text("2 antwoorden van iemand anders")
    set_offline(context, server, True)
    face(page, "checkin", "Niet goed")
    expect(page.locator("#outbox-status")).to_contain_text("1 antwoord wacht op verbinding")

    # Both go online: the phone now holds Anna's two answers and Bram's one.
    set_offline(context, server, False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    wait_for(lambda: len(owners(server)) == 1, what="Bram's answer")
    # Long enough for the page's and the worker's sends after coming online to have run.
    page.wait_for_timeout(1500)
    assert list(owners(server).values()) == [bram]
    assert {e["id"] for e in outbox(page)} == set(tapped)

    # Bram never sees anything of Anna: not her name, her choices or her history.
    expect(page.locator("body")).not_to_contain_text("Anna")
    expect(page.locator(".card.checkin [aria-pressed=true]")).to_have_accessible_name("Niet goed")
    page.goto("/app/#history")
    expect(page.locator(".answers li")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("ANNA-1")
    expect(page.locator("body")).not_to_contain_text("Anna")
    assert "Anna" not in kept(page)["storage"] and "ANNA-1" not in kept(page)["storage"]
    sign_out(page)
    page.close()

    # The next day Anna signs in again on this phone: her answers go in as hers, as tapped.
    server.clock.advance(DAY)
    later = context.new_page()
    later.clock.install(time=time.time() + DAY)
    follow_invite(later, new_invite(server, anna))
    expect(later.locator("#outbox-status")).to_have_text(ALL_SENT)
    wait_for(lambda: outbox(later) == [], what="an empty outbox")
    assert {i: p for i, p in owners(server).items() if i in tapped} == dict.fromkeys(tapped, anna)
    rows = server.sql("SELECT id, answered_at FROM answers WHERE person_id = ?", (anna,))
    assert {i: at for i, at in rows} == {
        i: int(datetime.fromisoformat(at).timestamp()) for i, at in tapped.items()
    }
    expect(later.locator("#others-waiting")).to_have_count(0)
    expect(later.locator("body")).not_to_contain_text("Bram")


def test_queued_answers_wait_when_another_persons_cookie_arrives_before_the_app_knows(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    anna = sign_in(page, server)
    set_offline(context, server, True)
    answer_as_anna(page)
    tapped = {e["id"] for e in outbox(page)}

    # Another person's session takes over the phone's cookie (as a sign-in in another tab
    # would), while the app and its worker still hold Anna as the one answering.
    bram, _ = server.add_staff(email="bram@example.org", name="Bram")
    session = server.call(auth.create_session(server.app.state.db, bram, server.clock(), 30, "b"))
    host = server.url.removeprefix("http://").split(":")[0]
    context.add_cookies([{"name": SESSION_COOKIE, "value": session, "domain": host, "path": "/"}])
    set_offline(context, server, False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    # Sent (by the page or the worker) with Bram's cookie, naming Anna: refused, kept.
    wait_for(lambda: any(s.fault == "pass" for s in server.faults.seen), what="a send")
    page.wait_for_timeout(1000)
    assert stored_ids(server) == []
    assert {e["id"] for e in outbox(page)} == tapped

    # Anna's session back: her answers go in as hers.
    mine = server.call(auth.create_session(server.app.state.db, anna, server.clock(), 30, "a"))
    context.add_cookies([{"name": SESSION_COOKIE, "value": mine, "domain": host, "path": "/"}])
    page.reload()
    wait_ready(page)
    wait_for(lambda: set(stored_ids(server)) == tapped, what="Anna's answers")
    assert set(owners(server).values()) == {anna}


def test_sign_out_leaves_nothing_of_the_person_on_the_phone(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    anna = sign_in(page, server)
    answer_as_anna(page)
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)

    sign_out(page)

    expect(page.locator("body")).not_to_contain_text("Anna")
    expect(page.locator(".face")).to_have_count(0)
    expect(page.get_by_role("button", name="Afmelden")).to_have_count(0)
    page.goto("/app/#history")
    expect(page.get_by_role("heading", name="Niet aangemeld")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("ANNA-1")
    left = kept(page)
    assert "Anna" not in left["storage"] and "ANNA-1" not in left["storage"]
    assert not [url for url in left["cached"] if "/api/" in url]
    assert server.sql("SELECT COUNT(*) FROM sessions WHERE person_id = ?", (anna,)) == [(0,)]
    assert page.context.request.get("/api/v1/me").status == 401


def test_manager_in_no_team_is_told_so_instead_of_answering(
    context: BrowserContext, server: LiveServer
) -> None:
    _, token = server.call(
        add_person(server.app, email="mira@example.org", role="manager", team=None, name="Mira")
    )
    page = context.new_page()
    page.goto(f"/signin/{token}")
    page.get_by_role("button").click()
    page.wait_for_url("**/manager")
    page.goto("/app/")

    card = page.locator("#no-team")
    expect(card).to_contain_text("Je zit niet in een team")
    expect(card.get_by_role("link", name="Naar het teamoverzicht")).to_have_attribute(
        "href", "/manager"
    )
    expect(page.locator(".face")).to_have_count(0)
    check(page, "app-no-team")
