"""Home and history: what a staff member sees and what each tap stores."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import PHONE, LiveServer, set_offline, sign_in, wait_for, wait_ready

ALL_SENT = "✓Alle antwoorden zijn verstuurd."


def answers(server: LiveServer, kind: str) -> list[tuple[int, str | None, str | None]]:
    return server.sql(
        "SELECT a.value, a.contact_ref, a.comment FROM answers a"
        " JOIN questions q ON q.id = a.question_id WHERE q.kind = ?"
        " ORDER BY a.answered_at, a.received_at, a.rowid",
        (kind,),
    )


def checkin_face(page: Page, name: str) -> None:
    page.locator(".card.checkin").get_by_role("button", name=name, exact=True).click()


def test_another_face_the_same_day_changes_todays_checkin(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    checkin_face(page, "Niet goed")
    expect(page.locator(".card.checkin .notice")).to_contain_text("Opgeslagen: Niet goed")
    checkin_face(page, "Goed")
    pressed = page.locator(".card.checkin [aria-pressed=true]")
    expect(pressed).to_have_accessible_name("Goed")
    checkin_face(page, "Goed")  # the face already chosen: nothing new
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    wait_for(lambda: len(answers(server, "checkin")) == 2, what="two check-ins")
    page.wait_for_timeout(300)
    assert [value for value, _, _ in answers(server, "checkin")] == [1, 2]
    times = [t for (t,) in server.sql("SELECT answered_at FROM answers ORDER BY answered_at")]
    assert times[0] < times[1], "the later tap is later, even within one second"

    # An optional comment after the tap becomes today's latest check-in, same face.
    page.locator("#comment").fill("Drukke maar fijne dag")
    page.get_by_role("button", name="Toelichting opslaan").click()
    expect(page.locator(".card.checkin .notice")).to_have_text("Toelichting opgeslagen.")
    wait_for(lambda: len(answers(server, "checkin")) == 3, what="the commented check-in")
    assert answers(server, "checkin")[-1] == (2, None, "Drukke maar fijne dag")

    page.reload()
    wait_ready(page)
    expect(pressed).to_have_accessible_name("Goed")
    page.get_by_role("link", name="Geschiedenis").click()
    # Three check-ins were stored, but the day has one answer: the latest, with its comment.
    expect(page.locator(".answers li")).to_have_count(1)
    expect(page.locator(".answers li")).to_contain_text("Dagcheck: Goed")
    expect(page.locator(".answers li q")).to_have_text("Drukke maar fijne dag")


def test_contact_reference_comes_from_the_link(context: BrowserContext, server: LiveServer) -> None:
    page = context.new_page()
    sign_in(page, server)
    page.goto("/app/?ref=ZD-4711")
    wait_ready(page)
    expect(page.locator("#contact-ref")).to_have_value("ZD-4711")
    page.locator(".card.contact").get_by_role("button", name="Goed", exact=True).click()
    expect(page.locator(".card.contact .notice")).to_have_text("Contact ZD-4711 beoordeeld: Goed.")
    expect(page.locator("#contact-ref")).to_have_value("")
    assert page.url.endswith("/app/")
    expect(page.locator(".card.contact")).to_contain_text("Vandaag 1 contact beoordeeld.")
    wait_for(lambda: answers(server, "contact_self") == [(2, "ZD-4711", None)], what="the rating")


def test_monthly_enps_shows_when_due_and_goes_once_answered(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    card = page.locator(".card.enps")
    expect(card).to_contain_text("Vraag van de maand")
    expect(card.get_by_role("button")).to_have_count(11)
    card.get_by_role("button", name="8", exact=True).click()
    expect(card).to_contain_text("Bedankt! Je antwoord: 8.")
    wait_for(lambda: len(answers(server, "enps")) == 1, what="the eNPS answer")
    assert answers(server, "enps")[0][0] == 8
    page.reload()
    wait_ready(page)
    expect(page.locator(".card.checkin")).to_be_visible()
    expect(card).to_have_count(0)


def test_mirror_questions_appear_while_a_round_is_open(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    expect(page.locator(".card.mirror")).to_have_count(0)
    server.execute("UPDATE questions SET active = 1 WHERE kind = 'mirror_staff'")
    page.reload()
    mirror = page.locator(".card.mirror")
    expect(mirror.get_by_role("heading", level=3)).to_have_count(3)
    expect(mirror.locator(".face")).to_have_count(15)
    speed = mirror.get_by_role("group", name="Hoe denk je dat klanten onze snelheid beoordelen?")
    speed.get_by_role("button", name="Heel goed").click()
    expect(speed.get_by_role("button", name="Heel goed")).to_have_attribute("aria-pressed", "true")
    wait_for(lambda: len(answers(server, "mirror_staff")) == 1, what="the mirror answer")
    assert answers(server, "mirror_staff")[0][0] == 5


def test_language_follows_the_browser_then_the_persons_choice(
    browser: Browser, server: LiveServer
) -> None:
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale="en-GB")
    try:
        page = context.new_page()
        person_id = sign_in(page, server)
        expect(page.get_by_role("heading", name="Did you have a good day?")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        # A brand-new person has sent nothing: no "all answers have been sent" yet.
        expect(page.locator("#outbox-status")).to_have_count(0)
        page.get_by_role("button", name="Nederlands").click()
        expect(page.get_by_role("heading", name="Prettige dag gehad?")).to_be_visible()
        wait_for(
            lambda: (
                server.sql("SELECT language FROM people WHERE id = ?", (person_id,)) == [("nl",)]
            ),
            what="the setting saved",
        )
        other = context.new_page()  # the person's setting now beats the browser's English
        other.goto("/app/")
        wait_ready(other)
        expect(other.get_by_role("heading", name="Prettige dag gehad?")).to_be_visible()
        expect(other.locator("#lang-nl")).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()


def test_history_shows_stored_and_still_waiting_answers(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    checkin_face(page, "Goed")
    expect(page.locator(".card.checkin .notice")).to_contain_text("Opgeslagen")
    wait_for(lambda: len(answers(server, "checkin")) == 1, what="the check-in stored")
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    set_offline(context, server, True)
    page.locator("#contact-ref").fill("WAIT-1")
    page.locator(".card.contact").get_by_role("button", name="Niet goed", exact=True).click()
    expect(page.locator("#outbox-status")).to_contain_text("1 antwoord wacht op verbinding")
    page.get_by_role("link", name="Geschiedenis").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mijn geschiedenis")
    items = page.locator(".answers li")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Contact: Niet goed")
    expect(items.first).to_contain_text("wacht op verbinding")
    expect(items.nth(1)).to_contain_text("Dagcheck: Goed")
    expect(items.nth(1)).not_to_contain_text("wacht op verbinding")
    # Charted as days and contacts, not as a score: one good day, one unsatisfied customer.
    checkins = page.locator("figure.chart").filter(has_text="Dagcheck: dagen per week")
    contacts = page.locator("figure.chart").filter(has_text="Contacten: beoordelingen per week")
    expect(checkins.locator("rect.positive")).to_have_count(1)
    expect(checkins.locator("rect.negative")).to_have_count(0)
    expect(contacts.locator("rect.negative")).to_have_count(1)
    checkins.get_by_text("Toon als tabel").click()
    expect(checkins.locator("table tbody tr").last).to_contain_text("1 van 1")
    expect(page.locator("svg text").filter(has_text="100")).to_have_count(0)


def test_an_answer_delivered_while_the_history_was_on_its_way_stays_in_the_history(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    set_offline(context, server, True)
    page.locator(".card.contact").get_by_role("button", name="Goed", exact=True).click()
    expect(page.locator("#outbox-status")).to_contain_text("1 antwoord wacht op verbinding")
    # Back online, the app fetches its history and sends the waiting answer at once; the
    # history answers last, as it was before the answer was stored.
    held: list[Route] = []
    context.route("**/api/v1/me/answers*", lambda route: held.append(route))
    set_offline(context, server, False)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_for(lambda: len(answers(server, "contact_self")) == 1, what="the contact stored")
    expect(page.locator("#outbox-status")).to_have_text(ALL_SENT)
    wait_for(lambda: bool(held), what="the history asked for")
    held[0].fulfill(json={"answers": []})
    page.wait_for_timeout(300)
    page.get_by_role("link", name="Geschiedenis").click()
    items = page.locator(".answers li")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Contact: Goed")
    context.unroute("**/api/v1/me/answers*")
