"""The manager view in a real browser: the demo's story on a phone, and reading it offline."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from server import demo
from tests.browser.conftest import LiveServer, set_offline

HOUR = 3600


def sign_in_demo_manager(page: Page, server: LiveServer) -> None:
    state = server.app.state
    assert server.call(demo.load(state.db, state.settings, server.clock()))
    links = server.call(demo.sign_in_links(state.db, state.settings, server.clock()))
    manager = next(link for role, _, link in links if role == "manager")
    page.goto("/signin/" + manager.rsplit("/", 1)[1])
    page.get_by_role("button").click()
    page.wait_for_url("**/manager")


def test_the_shop_manager_sees_the_alert_and_the_lag_on_a_phone(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in_demo_manager(page, server)
    alert = page.locator("section.alert.bad")
    expect(alert).to_contain_text("Winkel Utrecht")
    cards = page.locator("li.team")
    expect(cards).to_have_count(2)  # the shop and the field team, nothing else
    expect(cards.filter(has_text="Winkel Utrecht").locator(".badge.alarm")).to_be_visible()
    alert.get_by_role("link", name="Winkel Utrecht").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Winkel Utrecht")
    expect(page.get_by_text("Sterkste samenhang na 2 weken")).to_be_visible()
    expect(page.locator("svg.plot.weekly path.line.staff")).to_have_count(1)
    expect(page.locator("svg.plot.control .dot.alarm").first).to_be_visible()
    # Every figure with its n; the shop's eNPS, from too few people, without a number.
    figures = page.locator("#figures-title + dl .tile")
    expect(figures).to_have_count(5)
    expect(figures.filter(has_text="eNPS")).to_contain_text("Minder dan 5 antwoorden")
    expect(figures.filter(has_text="Stemming")).to_contain_text("n = ")


def test_an_action_shows_as_a_marker_on_the_chart(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in_demo_manager(page, server)
    page.locator("li.team").get_by_role("link", name="Winkel Utrecht").click()
    page.get_by_label("Wat ga je doen?").fill("Extra kracht op zaterdag")
    page.get_by_role("button", name="Actie vastleggen").click()
    expect(page.locator("#actions")).to_contain_text("Extra kracht op zaterdag")
    expect(page.locator("svg.plot.weekly .marker")).to_have_count(1)


def test_reopened_offline_the_pages_show_the_last_figures_and_their_age(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in_demo_manager(page, server)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now through the worker, which keeps this copy
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.locator("li.team").get_by_role("link", name="Winkel Utrecht").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Winkel Utrecht")
    team_url = page.url

    page.clock.install(time=server.clock() + 3 * HOUR)
    set_offline(context, server, True)
    for url in (team_url, re.sub(r"/teams/\d+", "", team_url)):
        page.goto(url)
        note = page.locator("#offline-note")
        expect(note).to_be_visible()
        expect(note).to_contain_text("Offline: je ziet de gegevens van")
        expect(note).to_contain_text("3 uur geleden")
    expect(page.locator("li.team")).to_have_count(2)
    page.goto(team_url)
    expect(page.get_by_role("button", name="Actie vastleggen")).to_be_disabled()

    # Signed out, nothing of it stays to be read.
    set_offline(context, server, False)
    page.goto(team_url)
    expect(page.locator("#offline-note")).to_be_hidden()
    page.get_by_role("button", name="Afmelden").click()
    page.wait_for_url("**/")
    set_offline(context, server, True)
    response = None
    try:
        response = page.goto(team_url)
    except PlaywrightError:  # offline with nothing kept: the navigation fails
        response = None
    assert response is None or response.status != 200 or "Winkel Utrecht" not in page.content()
