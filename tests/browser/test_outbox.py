"""The outbox: every answer reaches the server exactly once, whatever the network does."""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page, expect

from server import auth, people
from tests.browser.conftest import (
    LiveServer,
    follow_invite,
    outbox,
    set_offline,
    sign_in,
    stored_ids,
    wait_for,
)

ALL_SENT = "✓Alle antwoorden zijn verstuurd."


def face(page: Page, card: str, name: str) -> None:
    page.locator(f".card.{card}").get_by_role("button", name=name, exact=True).click()


def sent_ids(server: LiveServer) -> list[list[str]]:
    """The answer ids of each answers request, in arrival order."""
    return [[a["id"] for a in json.loads(s.body)["answers"]] for s in server.faults.seen]


def test_flaky_network_still_delivers_every_answer_exactly_once(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    server.faults.plan(["error_500", "drop_after_commit", "drop_before", "drop_after_commit"])
    face(page, "checkin", "Goed")
    for ref in ("F-1", "F-2", "F-3"):
        page.locator("#contact-ref").fill(ref)
        face(page, "contact", "Goed")
        expect(page.locator(".card.contact .notice")).to_contain_text(ref)
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT, timeout=20_000)
    wait_for(lambda: outbox(page) == [], what="an empty outbox")

    assert server.faults.script == [], "every planned fault was played"
    tapped = {answer_id for batch in sent_ids(server) for answer_id in batch}
    assert len(tapped) == 4
    assert sorted(stored_ids(server)) == sorted(tapped)
    # The server committed answers whose 2xx never arrived: they were sent again, and
    # stored once.
    lost = [(i, s) for i, s in enumerate(server.faults.seen) if s.fault == "drop_after_commit"]
    assert lost and all(s.inner_status == 200 for _, s in lost)
    for index, _ in lost:
        later = {a for batch in sent_ids(server)[index + 1 :] for a in batch}
        assert set(sent_ids(server)[index]) <= later
    assert not page.locator(".card.rejected").count()


def test_double_tap_stores_one_answer(context: BrowserContext, server: LiveServer) -> None:
    page = context.new_page()
    sign_in(page, server)
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).dblclick()
    page.locator(".card.contact").get_by_role("button", name="Niet goed", exact=True).dblclick()
    expect(page.locator(".card.contact .notice")).to_contain_text("Contact beoordeeld")
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    wait_for(lambda: len(stored_ids(server)) == 2, what="two answers")
    page.wait_for_timeout(500)
    kinds = server.sql("SELECT q.kind FROM answers a JOIN questions q ON q.id = a.question_id")
    assert sorted(k for (k,) in kinds) == ["checkin", "contact_self"]


def test_tap_during_an_in_flight_send_is_not_lost(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    server.faults.plan(["hold"])
    face(page, "checkin", "Goed")
    assert server.faults.holding.wait(timeout=10)
    page.locator("#contact-ref").fill("DURING")
    face(page, "contact", "Goed")
    expect(page.locator(".card.contact .notice")).to_contain_text("DURING")
    server.faults.release.set()
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    wait_for(lambda: len(stored_ids(server)) == 2, what="both answers")
    assert outbox(page) == []
    first, *later = sent_ids(server)
    [during] = set(stored_ids(server)) - set(first)
    assert any(during in batch for batch in later)


def test_refused_answer_is_kept_aside_shown_and_can_be_retried(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    server.execute("UPDATE questions SET active = 0 WHERE kind = 'contact_self'")
    face(page, "contact", "Goed")
    rejected = page.locator(".card.rejected")
    expect(rejected).to_contain_text("Niet opgeslagen")
    expect(rejected).to_contain_text("is not active")
    expect(page.locator("#outbox-status")).to_have_count(0)  # nothing waits, nothing was sent
    [entry] = outbox(page)
    assert entry["state"] == "rejected"
    assert stored_ids(server) == []

    server.execute("UPDATE questions SET active = 1 WHERE kind = 'contact_self'")
    rejected.get_by_role("button", name="Opnieuw proberen").click()
    expect(rejected).to_have_count(0)
    wait_for(lambda: stored_ids(server) == [entry["id"]], what="the retried answer")


def test_malformed_answer_is_isolated_and_the_rest_stored(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    set_offline(context, server, True)
    face(page, "checkin", "Goed")
    page.locator("#contact-ref").fill("OK-1")
    face(page, "contact", "Goed")
    expect(page.locator(".card.contact .notice")).to_contain_text("OK-1")
    face(page, "contact", "Niet goed")
    expect(page.locator("#outbox-status")).to_contain_text("3 antwoorden wachten")
    # An entry the server cannot even parse makes the whole batch a 400.
    page.evaluate(
        """() => new Promise((resolve, reject) => {
          const open = indexedDB.open('spiegel-outbox');
          open.onsuccess = () => {
            const tx = open.result.transaction(['answers', 'holder'], 'readwrite');
            const id = crypto.randomUUID();
            // Kept as the signed-in person's, as the app keeps every answer.
            tx.objectStore('holder').get('holder').onsuccess = (event) => {
              tx.objectStore('answers').add({ id, state: 'queued', queuedAt: Date.now(),
                owner: event.target.result.owner,
                answer: { id, question: 1, value: 'two', answered_at: new Date().toISOString() } });
            };
            tx.oncomplete = () => { open.result.close(); resolve(); };
            tx.onerror = () => reject(tx.error);
          };
        })"""
    )
    good = {e["id"] for e in outbox(page) if e["answer"]["value"] != "two"}
    set_offline(context, server, False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator(".card.rejected")).to_contain_text("HTTP 400")
    wait_for(lambda: set(stored_ids(server)) == good, what="the three good answers")
    [left] = outbox(page)
    assert left["state"] == "rejected" and left["answer"]["value"] == "two"
    page.locator(".card.rejected").get_by_role("button", name="Verwijderen").click()
    expect(page.locator(".card.rejected")).to_have_count(0)
    wait_for(lambda: outbox(page) == [], what="the removed entry gone")


def test_signed_out_device_keeps_answers_until_signed_in_again(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    person_id = sign_in(page, server)
    server.call(people.revoke_sessions(server.app.state.db, person_id))
    face(page, "checkin", "Niet goed")
    expect(page.locator("#signed-out")).to_contain_text("niet aangemeld")
    expect(page.locator("#outbox-status")).to_contain_text("1 antwoord wacht op verbinding")
    assert stored_ids(server) == []

    token = server.call(auth.create_invite(server.app.state.db, person_id, server.clock(), 24))
    follow_invite(page, token)
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    expect(page.locator("#signed-out")).to_have_count(0)
    wait_for(lambda: len(stored_ids(server)) == 1, what="the kept answer")
