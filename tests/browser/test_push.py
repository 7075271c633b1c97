"""Reminders in the staff app: the "Herinner mij" card and the service worker's push and click
handlers, in Chromium. Headless Chromium cannot subscribe at a real push service (field
notes), so an init script stands in for `pushManager.subscribe`; pushes are delivered to the
worker through the DevTools protocol (`ServiceWorker.deliverPushMessage`)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import PHONE, LiveServer, wait_for
from tests.pushservice import b64

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

# The page's side of a subscription, as a browser vendor's push service would hand it out;
# also counts the permission requests, so that the test sees when the app asks.
STUB = """
(() => {
  const subscription = %s;
  let current = null;
  window.__permissionAsked = 0;
  Notification.requestPermission = async () => { window.__permissionAsked += 1; return 'granted'; };
  const fake = {
    endpoint: subscription.endpoint,
    toJSON: () => subscription,
    unsubscribe: async () => { current = null; return true; },
  };
  PushManager.prototype.subscribe = async function (options) {
    window.__subscribedWith = options && options.applicationServerKey
      ? Array.from(new Uint8Array(options.applicationServerKey)).length : 0;
    current = fake;
    return fake;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""

NOTIFICATIONS = """() => navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((list) => list.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))"""


def fake_subscription() -> dict[str, Any]:
    """A subscription at an allowed push service, with keys of the right shape."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {
        "endpoint": f"https://fcm.googleapis.com/fcm/send/{secrets.token_urlsafe(12)}",
        "expirationTime": None,
        "keys": {"p256dh": b64(point), "auth": b64(secrets.token_bytes(16))},
    }


def sign_in(page: Page, server: LiveServer) -> int:
    """Follow a fresh invite link; wait until the app shows its questions under its worker.
    (Polled from here: the pages' CSP forbids the eval that wait_for_function uses.)"""
    person_id, token = server.add_staff()
    page.goto(f"/signin/{token}")
    page.get_by_role("button").click()
    page.wait_for_url("**/app/")
    ready(page)
    return person_id


def ready(page: Page) -> None:
    page.locator(".card.checkin .face").first.wait_for()
    wait_for(
        lambda: page.evaluate("() => navigator.serviceWorker.controller !== null"),
        what="the service worker to control the page",
    )


def reminder_card(page: Page) -> Any:
    return page.locator("#reminders")


def test_remind_me_asks_permission_only_after_the_tap_and_keeps_time_and_days_on_the_server(
    context: BrowserContext, server: LiveServer
) -> None:
    subscription = fake_subscription()
    context.add_init_script(STUB % json.dumps(subscription))
    context.grant_permissions(["notifications"], origin=server.url)
    page = context.new_page()
    person_id = sign_in(page, server)
    card = reminder_card(page)
    expect(card.get_by_role("button", name="Herinner mij")).to_be_visible()
    assert page.evaluate("window.__permissionAsked") == 0

    card.get_by_role("button", name="Herinner mij").click()

    expect(card).to_contain_text("Herinneringen staan aan op dit toestel")
    assert page.evaluate("window.__permissionAsked") == 1
    assert page.evaluate("window.__subscribedWith") == 65  # the server's VAPID key
    rows = server.sql("SELECT person_id, endpoint FROM push_subscriptions")
    assert rows == [(person_id, subscription["endpoint"])]

    card.get_by_label("Tijd").fill("08:15")
    card.get_by_label("vr").uncheck()
    card.get_by_role("button", name="Tijd en dagen bewaren").click()
    expect(card.locator(".confirm")).to_have_text("Bewaard.")
    expect(card).to_contain_text("ma, di, wo, do om 08:15")
    assert server.sql("SELECT minute_of_day, days FROM reminder_settings") == [(8 * 60 + 15, 15)]

    card.get_by_role("button", name="Geen herinneringen meer").click()
    expect(card.get_by_role("button", name="Herinner mij")).to_be_visible()
    assert server.sql("SELECT COUNT(*) FROM push_subscriptions") == [(0,)]


def registration_id(page: Page, cdp: Any) -> str:
    found: list[str] = []

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"].endswith("/app/") and not registration["isDeleted"]:
                found.append(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    for _ in range(200):  # events arrive while Playwright is called, not during time.sleep
        if found:
            return found[-1]
        page.wait_for_timeout(50)
    raise AssertionError("no registration of the app's service worker was reported")


def test_the_worker_shows_a_pushed_reminder_and_a_click_on_it_opens_the_check_in(
    context: BrowserContext, server: LiveServer
) -> None:
    context.grant_permissions(["notifications"], origin=server.url)
    page = context.new_page()
    sign_in(page, server)
    page.goto("/app/#history")
    expect(page.locator("#title")).to_have_text("Mijn geschiedenis")
    cdp = context.new_cdp_session(page)
    message = {
        "kind": "checkin",
        "title": "Hoe was je dag?",
        "body": "Je check-in van vandaag staat nog open. Eén tik is genoeg.",
        "url": "/app/",
        "tag": "spiegel-checkin",
        "lang": "nl",
    }

    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": server.url,
            "registrationId": registration_id(page, cdp),
            "data": json.dumps(message),
        },
    )

    wait_for(lambda: bool(page.evaluate(NOTIFICATIONS)), what="the notification")
    [shown] = page.evaluate(NOTIFICATIONS)
    assert shown == {
        "title": "Hoe was je dag?",
        "body": "Je check-in van vandaag staat nog open. Eén tik is genoeg.",
        "tag": "spiegel-checkin",
        "data": {"url": f"{server.url}/app/"},
    }
    # No headless way exists to click a system notification: the worker's own click handler
    # is fired inside the worker with a NotificationEvent for the shown notification.
    [worker] = [w for w in context.service_workers if w.url.endswith("/app/sw.js")]
    worker.evaluate(
        """async () => {
          const [notification] = await self.registration.getNotifications();
          self.dispatchEvent(new NotificationEvent('notificationclick', { notification }));
        }"""
    )
    page.wait_for_url(f"{server.url}/app/")
    ready(page)
    expect(page.locator(".card.checkin")).to_be_visible()
    wait_for(lambda: page.evaluate(NOTIFICATIONS) == [], what="the notification to close")


def test_on_an_iphone_outside_the_home_screen_the_card_says_reminders_need_it(
    browser: Browser, server: LiveServer
) -> None:
    context = browser.new_context(
        base_url=server.url, viewport=PHONE, locale="nl-NL", user_agent=IPHONE
    )
    try:
        page = context.new_page()
        sign_in(page, server)
        card = reminder_card(page)
        expect(card.locator(".alert.info")).to_contain_text("beginscherm")
        expect(card.get_by_role("button", name="Herinner mij")).to_have_count(0)
    finally:
        context.close()
