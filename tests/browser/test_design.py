"""The staff app's look and behaviour as a person meets it: each test is a defect seen in use."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import LiveServer, sign_in, wait_for

DESKTOP = {"width": 1280, "height": 800}


def enps_answers(server: LiveServer) -> list[int]:
    rows = server.sql(
        "SELECT a.value FROM answers a JOIN questions q ON q.id = a.question_id"
        " WHERE q.kind = 'enps' ORDER BY a.answered_at"
    )
    return [value for (value,) in rows]


def test_a_language_switch_rewords_the_confirmations_on_screen(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).click()
    notice = page.locator(".card.checkin .notice")
    expect(notice).to_contain_text("Opgeslagen: Goed.")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Did you have a good day?")).to_be_visible()
    expect(notice).to_have_text("Saved: Good. Tap another face to change today's answer.")


def test_an_enps_slip_can_be_mended_with_another_tap(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    scale = page.locator(".card.enps .scale")
    scale.get_by_role("button", name="3", exact=True).click()
    expect(page.locator(".card.enps .notice")).to_contain_text("Je antwoord: 3")
    scale.get_by_role("button", name="8", exact=True).click()
    expect(page.locator(".card.enps .notice")).to_contain_text("Je antwoord: 8")
    expect(scale.locator("[aria-pressed=true]")).to_have_text("8")
    wait_for(lambda: enps_answers(server) == [3, 8], what="both answers, the later counting")
    scale.get_by_role("button", name="8", exact=True).click()  # the chosen one: nothing new
    page.wait_for_timeout(300)
    assert enps_answers(server) == [3, 8]


def boxes(page: Page, selector: str) -> list[dict[str, float]]:
    found: list[dict[str, float]] = page.eval_on_selector_all(
        selector, "els => els.map((el) => el.getBoundingClientRect().toJSON())"
    )
    return found


def test_the_eleven_enps_buttons_line_up_without_a_ragged_row(
    browser: Browser, server: LiveServer
) -> None:
    for viewport, axis in (({"width": 360, "height": 740}, "x"), (DESKTOP, "y")):
        context = browser.new_context(base_url=server.url, viewport=viewport, locale="nl-NL")
        try:
            page = context.new_page()
            sign_in(page, server, email=f"{axis}@example.org")
            buttons = boxes(page, ".card.enps .scale button")
            assert len(buttons) == 11
            # One column on a phone (same x, same width), one row on a desk (same y).
            assert len({round(b[axis]) for b in buttons}) == 1, buttons
            assert len({round(b["width"]) for b in buttons}) == 1, buttons
            assert min(min(b["width"], b["height"]) for b in buttons) >= 48
        finally:
            context.close()


def test_all_sent_is_said_only_where_it_helps(context: BrowserContext, server: LiveServer) -> None:
    page = context.new_page()
    sign_in(page, server)
    status = page.locator("#outbox-status")
    expect(status).to_have_count(0)  # a brand-new person has sent nothing
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).click()
    expect(status).to_have_text("✓Alle antwoorden zijn verstuurd.")
    # Said below the questions answered, not above everything.
    below = boxes(page, "#outbox-status")[0]["y"] > boxes(page, ".card.checkin")[0]["y"]
    assert below
    # Signed out: the alert alone, with no reassurance on top of it.
    context.clear_cookies()
    page.reload()
    expect(page.locator("#signed-out")).to_be_visible()
    expect(status).to_have_count(0)


def test_back_after_signing_in_stays_in_the_app(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    page.go_back()
    page.wait_for_url("**/app/")
    expect(page.get_by_text("Deze link werkt niet meer")).to_have_count(0)
    expect(page.locator(".card.checkin")).to_be_visible()


def test_the_header_is_one_row_at_360_px_and_today_is_said_once(
    browser: Browser, server: LiveServer
) -> None:
    for locale, today in (("nl-NL", "Vandaag"), ("en-GB", "Today")):
        context = browser.new_context(
            base_url=server.url, viewport={"width": 360, "height": 740}, locale=locale
        )
        try:
            page = context.new_page()
            sign_in(page, server, email=f"{locale}@example.org")
            header = boxes(page, "header.top")[0]
            links = boxes(page, "header.top a")
            assert header["height"] <= 60, header
            assert len({round(b["y"] + b["height"] / 2) for b in links}) == 1, links
            assert max(b["x"] + b["width"] for b in links) <= 360 - 8, links
            expect(page.get_by_text(today, exact=True)).to_have_count(1)
        finally:
            context.close()


def test_a_confirmation_is_quiet_text_not_bold(context: BrowserContext, server: LiveServer) -> None:
    page = context.new_page()
    sign_in(page, server)
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).click()
    notice = page.locator(".card.checkin .notice")
    expect(notice).to_contain_text("Opgeslagen")
    assert int(notice.evaluate("el => getComputedStyle(el).fontWeight")) < 600


def tap_animations(page: Page) -> int:
    page.locator(".card.checkin").get_by_role("button", name="Goed", exact=True).click()
    face = page.locator(".card.checkin [aria-pressed=true]")
    expect(face).to_have_accessible_name("Goed")
    count: int = face.evaluate("el => el.getAnimations().length")
    return count


def test_a_tap_is_answered_with_motion_unless_reduced_motion_is_asked(
    browser: Browser, server: LiveServer
) -> None:
    for motion, expected in (("no-preference", 1), ("reduce", 0)):
        context = browser.new_context(
            base_url=server.url,
            viewport={"width": 360, "height": 740},
            locale="nl-NL",
            reduced_motion=motion,
        )
        try:
            page = context.new_page()
            sign_in(page, server, email=f"{motion}@example.org")
            assert tap_animations(page) == expected
        finally:
            context.close()


def test_on_a_desk_the_header_lines_up_with_the_content(
    browser: Browser, server: LiveServer
) -> None:
    context = browser.new_context(base_url=server.url, viewport=DESKTOP, locale="nl-NL")
    try:
        page = context.new_page()
        sign_in(page, server)
        brand = boxes(page, "header.top .brand")[0]
        card = boxes(page, ".card.checkin")[0]
        assert abs(brand["x"] - card["x"]) <= 1, (brand, card)
        for path in ("/", "/no/such/page"):
            page.goto(path)
            page.locator("main .card").first.wait_for()
            brand = boxes(page, "header.top .brand")[0]
            card = boxes(page, "main .card")[0]
            assert abs(brand["x"] - card["x"]) <= 1, (path, brand, card)
    finally:
        context.close()


def test_while_the_first_questions_load_the_app_says_so_not_that_there_are_none(
    browser: Browser, context: BrowserContext, server: LiveServer
) -> None:
    sign_in(context.new_page(), server)
    # A phone opening the app for the first time: no worker, nothing kept, a slow line.
    phone = browser.new_context(
        base_url=server.url, viewport={"width": 360, "height": 740}, locale="nl-NL"
    )
    try:
        phone.add_cookies(context.cookies())
        held: list[Route] = []
        phone.route("**/api/v1/me", lambda route: held.append(route))
        page = phone.new_page()
        page.goto("/app/")
        expect(page.get_by_text("Vragen worden geladen…")).to_be_visible()
        expect(page.get_by_text("nog geen vragen", exact=False)).to_have_count(0)
        wait_for(lambda: bool(held), what="the held request")
        held[0].continue_()
        expect(page.locator(".card.checkin .face").first).to_be_visible()
        expect(page.get_by_text("Vragen worden geladen…")).to_have_count(0)
    finally:
        phone.close()
