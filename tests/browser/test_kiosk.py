"""The kiosk in a real browser: pairing through the admin page and the tablet's own screen,
days offline with reloads and a browser restart, a server killed mid-sync, revocation, the
customer follow-up, the hidden settings, axe-core and screenshots at tablet sizes."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from server import kiosk
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    outbox_entries_js,
    screenshot,
    set_offline,
    wait_for,
)
from tests.conftest import add_person, free_port
from tests.test_cli import spiegel
from tests.test_serve import ROOT, SERVE, serve_env

PORTRAIT = {"width": 800, "height": 1280}
LANDSCAPE = {"width": 1280, "height": 800}
DAY = 24 * 3600
TAP_GAP_MS = 4100  # past the thank-you screen (3 s) and the lock-out (4 s from the tap)
AXE = Axe()

# The kiosk's outbox read straight from IndexedDB.
KIOSK_OUTBOX = outbox_entries_js("spiegel-outbox-kiosk")

# Queue many answers at once, as entries of the kiosk's outbox (the shape Outbox.add writes,
# owned by the paired kiosk), in one transaction: tapping them in would take hours.
QUEUE_MANY = """([count, question]) => new Promise((resolve, reject) => {
  const open = indexedDB.open('spiegel-outbox-kiosk');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(['answers', 'holder'], 'readwrite');
    const start = Date.now() - count * 1000;
    tx.objectStore('holder').get('holder').onsuccess = (event) => {
      const owner = event.target.result.owner;
      const store = tx.objectStore('answers');
      for (let i = 0; i < count; i += 1) {
        const id = crypto.randomUUID();
        const answer = { id, question, value: 1 + (i % 2),
          answered_at: new Date(start + i * 1000).toISOString() };
        store.add({ id, answer, state: 'queued', queuedAt: start + i, owner });
      }
    };
    tx.oncomplete = () => {
      const all = db.transaction('answers').objectStore('answers').count();
      all.onsuccess = () => { db.close(); resolve(all.result); };
    };
    tx.onerror = () => reject(tx.error);
  };
})"""


def kiosk_outbox(page: Page) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate(KIOSK_OUTBOX)
    return entries


def new_kiosk(server: LiveServer, team: str = "Winkel", **form: Any) -> tuple[int, str]:
    """A kiosk (and its team), made as `spiegel kiosk add` makes it, and its pairing code."""
    state = server.app.state
    server.execute(
        "INSERT INTO teams (name, created_at) VALUES (?, 0) ON CONFLICT DO NOTHING", (team,)
    )
    team_id = server.sql("SELECT id FROM teams WHERE name = ?", (team,))[0][0]
    settings = {"name": "Winkelvloer", "team": str(team_id), "mode": "staff", "pin": "2468"}
    settings.update(form)
    if settings["mode"] == "customer":
        settings.setdefault("reasons", kiosk.default_reasons("customer", "nl"))
    return server.call(kiosk.add_with_code(state.db, settings, server.clock()))


def tablet(
    browser: Browser, server: LiveServer, viewport: dict[str, int] = PORTRAIT
) -> BrowserContext:
    context = browser.new_context(
        base_url=server.url,
        viewport=viewport,
        locale="nl-NL",
        timezone_id="Europe/Amsterdam",
        service_workers="allow",
    )
    context.set_default_timeout(10_000)
    return context


def pair(page: Page, code: str) -> None:
    """Open the pairing link as the QR code does, press the button, wait for the question."""
    page.goto(f"/kiosk/pair?code={code}")
    expect(page.locator("#code")).to_have_value(code)
    page.locator("#pair").click()
    page.locator("[data-view=question]").wait_for()
    # Polled from here: the page's faked clock would hold back Playwright's own polling.
    wait_for(
        lambda: page.evaluate("() => navigator.serviceWorker.controller !== null"),
        what="the kiosk's service worker in control",
    )


def tap(page: Page, face: str) -> None:
    """One tap on a face; the thank-you screen; the faked clock moves past it."""
    page.get_by_role("button", name=face, exact=True).click()
    page.locator("[data-view=thanks]").wait_for()
    page.clock.run_for(TAP_GAP_MS)
    page.locator("[data-view=question]").wait_for()


def check_screen(page: Page, name: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()
    # No missing text: a raw catalogue key, or a null that slipped into the page.
    assert not re.search(r"\bkiosk\.[a-z]|\bnull\b|\bundefined\b", page.inner_text("body")), name
    screenshot(page, name)


# --- pairing -----------------------------------------------------------------------------


def test_a_tablet_pairs_with_the_code_from_the_admin_page_and_answers_anonymously(
    browser: Browser, server: LiveServer
) -> None:
    server.execute("INSERT INTO teams (name, created_at) VALUES ('Winkel', 0)")
    _, invite = server.call(
        add_person(server.app, email="nina@example.org", role="admin", team=None)
    )
    desk = browser.new_context(base_url=server.url, viewport=LANDSCAPE, locale="nl-NL")
    admin = desk.new_page()
    admin.goto(f"/signin/{invite}")
    admin.get_by_role("button").click()
    admin.goto("/admin/kiosks")
    admin.get_by_label("Naam").fill("Winkelvloer")
    admin.get_by_label("Team").select_option(label="Winkel")
    admin.get_by_label("Pincode voor de eigen instellingen van de kiosk").fill("2468")
    admin.get_by_role("button", name="Kiosk aanmaken en koppelcode tonen").click()
    code = admin.locator("#pairing-code").inner_text()
    link = admin.locator("#pairing-link").get_attribute("href")
    assert link is not None and link.endswith(f"/kiosk/pair?code={code.replace('-', '')}")
    check_screen(admin, "kiosk-admin-code")

    context = tablet(browser, server)
    page = context.new_page()
    page.clock.install(time=server.clock())
    # The link names the server's public address; the test server listens elsewhere.
    page.goto(link[link.index("/kiosk/") :])
    expect(page.get_by_role("heading", name="Deze tablet koppelen")).to_be_visible()
    page.locator("#pair").click()
    expect(page.get_by_role("heading", name="Prettige dag gehad?")).to_be_visible()
    page.get_by_role("button", name="Goed", exact=True).click()
    page.locator("[data-view=thanks]").wait_for()
    # Back at the question after the thanks, the faces take no tap until the lock-out ends.
    page.clock.run_for(3100)
    page.locator("[data-view=question]").wait_for()
    expect(page.locator(".face").first).to_have_attribute("aria-disabled", "true")
    page.get_by_role("button", name="Niet goed", exact=True).click(force=True)
    expect(page.locator("[data-view=question]")).to_be_visible()
    page.clock.run_for(1000)
    expect(page.locator(".face[aria-disabled]")).to_have_count(0)
    wait_for(lambda: len(server.sql("SELECT id FROM answers")) == 1, what="the answer stored")
    assert kiosk_outbox(page) == []  # the tap during the lock-out was not kept either
    team_id = server.sql("SELECT id FROM teams WHERE name = 'Winkel'")[0][0]
    assert server.sql("SELECT team_id, person_id, source, value FROM answers") == [
        (team_id, None, "kiosk", 2)
    ]
    admin.goto("/admin/kiosks")
    row = admin.locator("tr[data-kiosk]")
    expect(row).to_contain_text("Gekoppeld")
    check_screen(admin, "kiosk-admin-list")
    context.close()
    desk.close()


def test_a_wrong_an_expired_and_a_reused_code_each_fail_with_a_clear_message(
    browser: Browser, server: LiveServer
) -> None:
    _, code = new_kiosk(server)
    first = tablet(browser, server)
    page = first.new_page()
    page.goto("/kiosk/")
    expect(page.get_by_role("heading", name="Deze tablet koppelen")).to_be_visible()
    page.locator("#code").fill("ZZZZ-ZZZZ")
    page.locator("#pair").click()
    expect(page.locator("#pair-error")).to_have_text(
        "Deze code klopt niet. Controleer hem en probeer het opnieuw, of vraag een nieuwe code."
    )
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    check_screen(page, "kiosk-pair-wrong-portrait")
    page.locator("#code").fill(code.lower())
    page.locator("#pair").click()
    page.locator("[data-view=question]").wait_for()

    second = tablet(browser, server)
    other = second.new_page()
    other.goto(f"/kiosk/pair?code={code}")
    other.locator("#pair").click()
    expect(other.locator("#pair-error")).to_have_text(
        "Deze code is al gebruikt. Vraag een nieuwe aan."
    )
    _, late = new_kiosk(server, name="Magazijn")
    server.clock.advance(15 * 60 + 1)
    other.goto(f"/kiosk/pair?code={late}")
    other.locator("#pair").click()
    expect(other.locator("#pair-error")).to_have_text(
        "Deze code is verlopen: een code werkt 15 minuten. Vraag een nieuwe aan."
    )
    first.close()
    second.close()


def test_twenty_wrong_codes_throttle_the_tablet_even_for_the_right_code(
    browser: Browser, server: LiveServer
) -> None:
    _, code = new_kiosk(server)
    context = tablet(browser, server)
    page = context.new_page()
    page.goto("/kiosk/")
    for n in range(kiosk.PAIR_TRIES_PER_ADDRESS):
        page.locator("#code").fill(f"ZZZZ-ZZ{n:02d}")
        page.locator("#pair").click()
        expect(page.locator("#pair-error")).to_contain_text("Deze code klopt niet", timeout=5000)
        expect(page.locator("#pair")).to_be_enabled()
    page.locator("#code").fill(code)
    page.locator("#pair").click()
    expect(page.locator("#pair-error")).to_have_text(
        "Te veel verkeerde codes vanaf dit apparaat. Probeer het over 15 minuten opnieuw."
    )
    assert server.sql("SELECT token_hash FROM kiosks") == [(None,)]
    context.close()


# --- offline for days ------------------------------------------------------------------


@contextmanager
def persistent_tablet(
    playwright: Playwright, profile: Path, server: LiveServer, at: float
) -> Iterator[tuple[BrowserContext, Page]]:
    """A browser with a profile on disk, so that closing it and starting it again is what a
    tablet's restart is; its page's clock is faked from `at`."""
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        base_url=server.url,
        viewport=PORTRAIT,
        locale="nl-NL",
        timezone_id="Europe/Amsterdam",
        service_workers="allow",
    )
    context.set_default_timeout(10_000)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.clock.install(time=at)
        yield context, page
    finally:
        context.close()


def test_three_days_offline_300_taps_with_reloads_and_a_restart_arrive_exactly_once(
    playwright: Playwright, server: LiveServer, tmp_path: Path
) -> None:
    kiosk_id, code = new_kiosk(server)
    team_id = server.sql("SELECT team_id FROM kiosks")[0][0]
    profile = tmp_path / "tablet"
    start = server.clock()
    taps_a_day = 100
    faces = ["Goed", "Niet goed", "Goed", "Goed"]
    with persistent_tablet(playwright, profile, server, start) as (context, page):
        pair(page, code)
        set_offline(context, server, True)
        for day in range(2):
            for n in range(taps_a_day):
                tap(page, faces[n % 4])
            expect(page.locator("#status")).to_have_text(
                f"{taps_a_day * (day + 1)} antwoorden wachten op verbinding"
            )
            # The night: the tablet sleeps; in the morning its page is reloaded offline.
            page.clock.fast_forward(DAY * 1000 - taps_a_day * TAP_GAP_MS)
            server.clock.advance(DAY)
            page.reload()
            page.locator("[data-view=question]").wait_for()
        kept = kiosk_outbox(page)
        assert len(kept) == 2 * taps_a_day
    # The tablet is switched off and on again on the third day, still without a network.
    with persistent_tablet(playwright, profile, server, start + 2 * DAY + 60) as (context, page):
        set_offline(context, server, True)
        page.goto("/kiosk/")
        page.locator("[data-view=question]").wait_for()
        for n in range(taps_a_day):
            tap(page, faces[n % 4])
        queued = kiosk_outbox(page)
        assert len(queued) == 3 * taps_a_day
        assert {e["id"] for e in kept} <= {e["id"] for e in queued}
        assert server.sql("SELECT COUNT(*) FROM answers") == [(0,)]
        taps = {e["id"]: e["answer"]["answered_at"] for e in queued}
        spread = [datetime.fromisoformat(at).timestamp() for at in taps.values()]
        assert max(spread) - min(spread) > 2 * DAY  # three days of taps

        server.clock.advance(DAY + 3600)  # the server's now is after the last tap
        set_offline(context, server, False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        wait_for(
            lambda: server.sql("SELECT COUNT(*) FROM answers") == [(3 * taps_a_day,)],
            timeout=30,
            what="300 answers stored",
        )
        wait_for(lambda: kiosk_outbox(page) == [], what="an empty outbox")
        expect(page.locator("#status")).to_have_text("")
    stored = server.sql("SELECT id, answered_at, team_id, kiosk_id, person_id FROM answers")
    assert len(stored) == 3 * taps_a_day
    assert {row[0]: row[1] for row in stored} == {
        i: int(datetime.fromisoformat(at).timestamp()) for i, at in taps.items()
    }
    assert {(row[2], row[3], row[4]) for row in stored} == {(team_id, kiosk_id, None)}


@contextmanager
def serving_on(db_path: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`spiegel serve` on a given port, in a process group of its own so that a SIGKILL
    reaches its worker too (as a crash of the machine would); yields it once healthy."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            SERVE,
            cwd=ROOT,
            env=serve_env(db_path, port),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            if healthy(port):
                break
            assert time.monotonic() < deadline, "spiegel serve did not become healthy"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def count_answers(db_path: str) -> int:
    with sqlite3.connect(db_path, timeout=5) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def test_a_server_killed_mid_sync_and_started_again_loses_no_answer_and_stores_none_twice(
    browser: Browser, tmp_path: Path
) -> None:
    db_path = str(tmp_path / "spiegel.db")
    log = tmp_path / "serve.log"
    assert spiegel(db_path, "team", "add", "--name", "Winkel").returncode == 0
    added = spiegel(db_path, "kiosk", "add", "--name", "Vloer", "--team", "Winkel", "--pin", "2468")
    code = re.search(r"code=([0-9A-Z]{8})", added.stdout)
    assert code is not None, added.stderr
    port = free_port()
    total = 6000
    context = browser.new_context(
        base_url=f"http://127.0.0.1:{port}", viewport=LANDSCAPE, service_workers="allow"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    with serving_on(db_path, port, log) as first:
        pair(page, code.group(1))
        context.set_offline(True)
        assert page.evaluate(QUEUE_MANY, [total, 1]) == total
        ids = {e["id"] for e in kiosk_outbox(page)}
        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        wait_for(lambda: count_answers(db_path) > 0, timeout=20, what="the sync under way")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        wait_for(lambda: not healthy(port), what="the server gone, worker and all")
    at_kill = count_answers(db_path)
    assert 0 < at_kill < total, "the server was killed in the middle of the sync"
    with serving_on(db_path, port, log):
        # The outbox retries on its own (backoff after the failed batch).
        wait_for(lambda: kiosk_outbox(page) == [], timeout=60, what="an empty outbox")
        with sqlite3.connect(db_path) as conn:
            stored = [row[0] for row in conn.execute("SELECT id FROM answers")]
        assert len(stored) == total and set(stored) == ids
    context.close()


# --- revocation ------------------------------------------------------------------------


def test_a_revoked_kiosk_keeps_its_answers_says_what_to_do_and_sends_them_when_paired_again(
    browser: Browser, server: LiveServer
) -> None:
    kiosk_id, code = new_kiosk(server)
    context = tablet(browser, server)
    page = context.new_page()
    page.clock.install(time=server.clock())
    pair(page, code)
    set_offline(context, server, True)
    for face in ("Goed", "Niet goed", "Goed"):
        tap(page, face)
    server.call(kiosk.revoke(server.app.state.db, kiosk_id, server.clock()))
    set_offline(context, server, False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(
        page.get_by_role("heading", name="Deze kiosk moet opnieuw gekoppeld worden")
    ).to_be_visible()
    expect(page.locator("#kept")).to_have_text(
        "3 antwoorden worden op deze tablet bewaard. Ze worden verstuurd zodra de tablet"
        " opnieuw aan dezelfde kiosk is gekoppeld."
    )
    assert len(kiosk_outbox(page)) == 3
    assert server.sql("SELECT COUNT(*) FROM answers") == [(0,)]
    check_screen(page, "kiosk-unpaired-portrait")
    # A reload (or a restart) still says so, and keeps the answers.
    page.reload()
    expect(
        page.get_by_role("heading", name="Deze kiosk moet opnieuw gekoppeld worden")
    ).to_be_visible()

    again = server.call(kiosk.new_pairing_code(server.app.state.db, kiosk_id, server.clock()))
    page.locator("#code").fill(again)
    page.locator("#pair").click()
    page.locator("[data-view=question]").wait_for()
    wait_for(lambda: server.sql("SELECT COUNT(*) FROM answers") == [(3,)], what="3 answers sent")
    assert server.sql("SELECT DISTINCT kiosk_id FROM answers") == [(kiosk_id,)]
    wait_for(lambda: kiosk_outbox(page) == [], what="an empty outbox")
    context.close()


def test_answers_of_another_kiosk_wait_when_the_tablet_is_paired_to_a_new_one(
    browser: Browser, server: LiveServer
) -> None:
    first_id, code = new_kiosk(server)
    context = tablet(browser, server)
    page = context.new_page()
    page.clock.install(time=server.clock())
    pair(page, code)
    set_offline(context, server, True)
    tap(page, "Goed")
    server.call(kiosk.revoke(server.app.state.db, first_id, server.clock()))
    set_offline(context, server, False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.locator("[data-view=unpaired]").wait_for()
    _, other = new_kiosk(server, team="Magazijn", name="Magazijn")
    page.locator("#code").fill(other)
    page.locator("#pair").click()
    page.locator("[data-view=question]").wait_for()
    tap(page, "Niet goed")
    wait_for(lambda: server.sql("SELECT COUNT(*) FROM answers") == [(1,)], what="the new answer")
    magazijn = server.sql("SELECT id FROM teams WHERE name = 'Magazijn'")[0][0]
    assert server.sql("SELECT team_id, value FROM answers") == [(magazijn, 1)]
    (held,) = kiosk_outbox(page)
    assert held["owner"] == first_id  # the old kiosk's answer is not filed under the new one
    context.close()


# --- customer mode and the kiosk's own settings -------------------------------------------


def test_a_customer_kiosk_asks_a_follow_up_keeps_the_reference_and_returns_when_idle(
    browser: Browser, server: LiveServer
) -> None:
    _, code = new_kiosk(server, team="Balie", name="Balie", mode="customer")
    context = tablet(browser, server, LANDSCAPE)
    page = context.new_page()
    page.clock.install(time=server.clock())
    pair(page, code)
    page.goto("/kiosk/?ref=BON-17")
    question = page.get_by_role("heading", name="Hoe tevreden bent u over onze service?")
    expect(question).to_be_visible()
    expect(page.locator(".faces.n4 .face")).to_have_count(4)
    check_screen(page, "kiosk-customer-landscape")
    page.get_by_role("button", name="Matig", exact=True).click()
    expect(page.get_by_role("heading", name="Wat kan er beter?")).to_be_visible()
    expect(page.locator(".reasons button")).to_have_count(5)
    check_screen(page, "kiosk-followup-landscape")
    page.get_by_role("button", name="Wachttijd").click()
    page.locator("[data-view=thanks]").wait_for()
    check_screen(page, "kiosk-thanks-landscape")
    page.clock.run_for(TAP_GAP_MS)
    expect(question).to_be_visible()
    # A customer who taps and walks away: the answer counts, without a reason.
    page.get_by_role("button", name="Heel goed", exact=True).click()
    page.locator("[data-view=followup]").wait_for()
    page.clock.run_for(21_000)
    page.locator("[data-view=thanks]").wait_for()
    page.clock.run_for(TAP_GAP_MS)
    expect(question).to_be_visible()
    wait_for(lambda: len(server.sql("SELECT id FROM answers")) == 2, what="two answers")
    assert sorted(server.sql("SELECT value, reason, contact_ref, person_id FROM answers")) == [
        (2, "Wachttijd", "BON-17", None),
        (4, None, "BON-17", None),
    ]
    context.close()


def test_a_hidden_gesture_and_the_pin_open_the_settings_and_unpair_keeps_the_answers(
    browser: Browser, server: LiveServer
) -> None:
    kiosk_id, code = new_kiosk(server)
    context = tablet(browser, server)
    page = context.new_page()
    page.clock.install(time=server.clock())
    pair(page, code)
    corner = page.locator("#corner")
    for _ in range(4):
        corner.click()
    expect(page.locator("[data-view=question]")).to_be_visible()  # four taps: nothing
    corner.click()
    expect(page.get_by_role("heading", name="Instellingen van de kiosk")).to_be_visible()
    page.locator("#pin").fill("1111")
    page.get_by_role("button", name="Openen").click()
    expect(page.locator("#pin-error")).to_have_text("Verkeerde pincode.")
    page.locator("#pin").fill("2468")
    page.get_by_role("button", name="Openen").click()
    page.locator("[data-view=settings]").wait_for()
    expect(page.locator("#screen")).to_contain_text("Kiosk “Winkelvloer” van team Winkel.")
    check_screen(page, "kiosk-settings-portrait")
    page.get_by_role("button", name="Verbinding testen").click()
    expect(page.locator("#test-result")).to_have_text("De verbinding werkt.")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Kiosk settings")).to_be_visible()
    page.get_by_role("button", name="Back to the question").click()
    expect(page.get_by_role("heading", name="Did you have a good day?")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Did you have a good day?")).to_be_visible()

    set_offline(context, server, True)
    tap(page, "Good")
    for _ in range(5):
        corner.click()
    page.locator("#pin").fill("2468")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("button", name="Unpair this tablet").click()
    expect(page.get_by_role("heading", name="Pair this tablet")).to_be_visible()
    assert len(kiosk_outbox(page)) == 1  # unpairing forgets the token, not the answers
    set_offline(context, server, False)
    code = server.call(kiosk.new_pairing_code(server.app.state.db, kiosk_id, server.clock()))
    page.locator("#code").fill(code)
    page.locator("#pair").click()
    page.locator("[data-view=question]").wait_for()
    wait_for(lambda: server.sql("SELECT COUNT(*) FROM answers") == [(1,)], what="the answer sent")
    context.close()


def test_kiosk_screens_pass_axe_and_are_saved_at_both_tablet_sizes(
    browser: Browser, server: LiveServer
) -> None:
    _, staff_code = new_kiosk(server)
    _, customer_code = new_kiosk(server, team="Balie", name="Balie", mode="customer")
    for size, viewport in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        for mode, code in (("staff", staff_code), ("customer", customer_code)):
            context = tablet(browser, server, viewport)
            page = context.new_page()
            page.clock.install(time=server.clock())
            page.goto("/kiosk/")
            page.locator("[data-view=pair]").wait_for()
            check_screen(page, f"kiosk-pair-{size}")
            pair(page, code)
            check_screen(page, f"kiosk-{mode}-{size}")
            page.locator(".face").last.click()
            if mode == "customer":
                page.locator("[data-view=followup]").wait_for()
                check_screen(page, f"kiosk-followup-{size}")
                page.get_by_role("button", name="Niets, dank u").click()
            page.locator("[data-view=thanks]").wait_for()
            check_screen(page, f"kiosk-thanks-{mode}-{size}")
            context.close()
        if size == "portrait":
            # The same codes cannot pair twice: new ones for the landscape round.
            ids = [row[0] for row in server.sql("SELECT id FROM kiosks ORDER BY id")]
            db, now = server.app.state.db, server.clock()
            staff_code = server.call(kiosk.new_pairing_code(db, ids[0], now))
            customer_code = server.call(kiosk.new_pairing_code(db, ids[1], now))
