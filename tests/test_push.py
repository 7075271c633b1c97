"""Reminders by web push, through a real push service on 127.0.0.1 that verifies VAPID and
decrypts every message. The clock is the only fake."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import auth, config, push, reminders
from server.answers import NewAnswer, store_batch
from server.app import create_app
from tests.conftest import FakeClock, add_person, answer, db_of, sign_in
from tests.pushservice import PushService, unb64

ZONE = ZoneInfo("Europe/Amsterdam")
MONDAY = datetime(2026, 11, 23, tzinfo=ZONE)  # a Monday; 1 December 2026 is a Tuesday


def at(day: datetime, hhmm: str) -> float:
    hours, minutes = hhmm.split(":")
    return day.replace(hour=int(hours), minute=int(minutes)).timestamp()


@pytest.fixture
def settings(db_path: str) -> config.Settings:
    # The app's own loop is off: each test runs rounds itself, on the test's event loop.
    return config.load({}, database=db_path, push_services="127.0.0.1", reminders=False)


@pytest.fixture
def service(db_path: str) -> Iterator[PushService]:
    def server_key() -> str:
        with sqlite3.connect(db_path) as conn:
            return str(conn.execute("SELECT public_key FROM push_keys").fetchone()[0])

    with PushService(server_key) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    clock = FakeClock()
    clock.now = at(MONDAY, "12:00")
    return clock


@pytest.fixture
async def rounds(
    app: Litestar, client: AsyncTestClient[Litestar], settings: config.Settings, clock: FakeClock
) -> AsyncIterator[reminders.Scheduler]:
    """A scheduler on the app's database with connections of its own, as another process."""
    running = reminders.Scheduler(settings, clock)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def staff_with_device(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    email: str,
    role: str = "staff",
) -> tuple[int, str]:
    """A person signed in on their own phone (this client), subscribed to push there."""
    client.cookies.clear()
    person_id, token = await add_person(app, email=email, role=role)  # type: ignore[arg-type]
    await sign_in(client, token)
    device = service.device()
    response = await client.post("/api/v1/push/subscriptions", json=device.subscription())
    assert response.status_code == 201, response.text
    return person_id, device.endpoint


async def check_in(app: Litestar, person_id: int, when: float) -> None:
    new = NewAnswer(
        id=answer()["id"],
        question_id=1,
        value=2,
        answered_at=int(when),
        source="app",
        person_id=person_id,
        team_id=None,
    )
    assert await store_batch(db_of(app), [new], when) == ["stored"]


# --- the acceptance list ------------------------------------------------------------------


async def test_at_1630_on_a_monday_only_the_person_who_has_not_checked_in_gets_one_reminder(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, anna_phone = await staff_with_device(app, client, service, "anna@example.org")
    bert, bert_phone = await staff_with_device(app, client, service, "bert@example.org")
    await check_in(app, bert, at(MONDAY, "09:15"))

    clock.now = at(MONDAY, "16:29")
    await rounds.tick()
    assert service.received == []
    clock.now = at(MONDAY, "16:30")
    await rounds.tick()
    await rounds.tick()

    assert service.refused == []
    assert service.to(bert_phone) == []
    [reminder] = service.to(anna_phone)
    assert reminder.payload == {
        "kind": "checkin",
        "title": "Hoe was je dag?",
        "body": "Je check-in van vandaag staat nog open. Eén tik is genoeg.",
        "url": "/app/",
        "tag": "spiegel-checkin",
        "lang": "nl",
    }
    # Until the day ends in Amsterdam (7.5 h), replaceable by a newer reminder.
    assert (reminder.ttl, reminder.urgency, reminder.topic) == (
        7 * 3600 + 1800,
        "normal",
        "checkin",
    )


async def test_nobody_gets_a_reminder_on_saturday(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    await staff_with_device(app, client, service, "anna@example.org")
    saturday = MONDAY + timedelta(days=5)
    for hhmm in ("16:30", "17:00", "20:00"):
        clock.now = at(saturday, hhmm)
        await rounds.tick()
    clock.now = at(saturday + timedelta(days=2), "16:30")  # and Monday again does
    await rounds.tick()

    assert len(service.received) == 1
    assert service.refused == []


async def test_a_restart_at_1631_sends_no_second_reminder(
    settings: config.Settings, service: PushService, clock: FakeClock
) -> None:
    settings = msgspec.structs.replace(settings, reminders=True)  # the app's own loop runs
    clock.now = at(MONDAY, "16:25")
    first = create_app(settings, clock)
    async with AsyncTestClient(first, base_url="http://testserver.local") as client:
        _, phone = await staff_with_device(first, client, service, "anna@example.org")
        clock.now = at(MONDAY, "16:30")
        await _round_of_a_process(settings, clock)
        assert len(service.to(phone)) == 1

    clock.now = at(MONDAY, "16:31")
    again = create_app(settings, clock)
    async with AsyncTestClient(again, base_url="http://testserver.local"):
        # The restarted app's scheduler, started by its lifespan, runs a round at once.
        for _ in range(500):
            if again.state.reminders.ticks:
                break
            await asyncio.sleep(0.01)
        assert again.state.reminders.ticks >= 1
    await _round_of_a_process(settings, clock)

    assert len(service.to(phone)) == 1
    assert service.refused == []


async def _round_of_a_process(settings: config.Settings, clock: FakeClock) -> reminders.Tick:
    """One round of a scheduler with fresh state and connections, as a new process has."""
    scheduler = reminders.Scheduler(msgspec.structs.replace(settings, reminders=False), clock)
    await scheduler.start()
    try:
        return await scheduler.tick()
    finally:
        await scheduler.stop()


async def test_two_schedulers_on_one_database_send_one_reminder_between_them(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
    settings: config.Settings,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    other = reminders.Scheduler(settings, clock)
    await other.start()
    try:
        clock.now = at(MONDAY, "16:30")
        results = await asyncio.gather(rounds.tick(), other.tick())
    finally:
        await other.stop()

    assert len(service.to(phone)) == 1
    assert sorted(r.claimed for r in results) == [0, 1]
    assert sum(r.sent for r in results) == 1


async def test_a_410_deletes_the_subscription(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    service.answer(410, endpoint=phone)
    clock.now = at(MONDAY, "16:30")

    tick = await rounds.tick()

    assert tick.gone == 1
    left = await db_of(app).fetch_value("SELECT COUNT(*) FROM push_subscriptions")
    assert left == 0
    clock.now = at(MONDAY, "16:45")
    assert (await rounds.tick()).sent == 0  # nothing left to try


async def test_a_429_with_retry_after_is_retried_after_it_and_not_before(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    service.answer(429, retry_after="300", endpoint=phone)
    clock.now = at(MONDAY, "16:30")
    assert (await rounds.tick()).retry == 1

    clock.now = at(MONDAY, "16:34") + 59
    await rounds.tick()
    assert [status for _, status, _ in service.answered] == [429]

    clock.now = at(MONDAY, "16:35")
    assert (await rounds.tick()).sent == 1
    assert [status for _, status, _ in service.answered] == [429, 201]
    [reminder] = service.to(phone)
    assert reminder.payload["kind"] == "checkin"


# --- around the acceptance list ------------------------------------------------------


async def test_a_reminder_is_never_sent_for_a_day_already_past(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    await staff_with_device(app, client, service, "anna@example.org")
    # The server was down from before 16:30 until too late that day, then the next morning.
    clock.now = at(MONDAY, "18:31")
    await rounds.tick()
    clock.now = at(MONDAY + timedelta(days=1), "08:00")
    await rounds.tick()

    assert service.received == []


async def test_a_5xx_is_retried_with_backoff_and_a_retry_that_would_come_too_late_expires(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    service.answer(503, endpoint=phone, times=2)
    clock.now = at(MONDAY, "16:30")
    await rounds.tick()
    clock.now += 29
    await rounds.tick()
    assert len(service.answered) == 1  # the first backoff is 30 s
    clock.now += 1
    await rounds.tick()
    assert len(service.answered) == 2
    clock.now = at(MONDAY + timedelta(days=1), "00:00")
    assert (await rounds.tick()).expired == 1
    assert service.received == []


async def test_the_reminder_comes_in_the_persons_language(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    assert (await client.patch("/api/v1/me", json={"language": "en"})).status_code == 200
    clock.now = at(MONDAY, "16:30")
    await rounds.tick()

    [reminder] = service.to(phone)
    assert reminder.payload["title"] == "How was your day?"
    assert reminder.payload["lang"] == "en"


async def test_a_reminder_in_a_language_no_longer_offered_comes_in_the_default(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    assert (await client.patch("/api/v1/me", json={"language": "en"})).status_code == 200
    async with db_of(app).transaction() as tx:
        await tx.execute("UPDATE organisation SET languages = 'nl', default_language = 'nl'")
    clock.now = at(MONDAY, "16:30")
    await rounds.tick()

    [reminder] = service.to(phone)
    assert reminder.payload["lang"] == "nl"
    assert reminder.payload["title"] != "How was your day?"


async def test_a_person_chooses_the_time_and_days_of_their_reminder(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    response = await client.patch("/api/v1/me/reminders", json={"time": "08:45", "days": [6, 1]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "time": "08:45",
        "days": [1, 6],
        "team_alerts": False,
        "timezone": "Europe/Amsterdam",
        "this_device": True,
        "devices": 1,
    }
    clock.now = at(MONDAY + timedelta(days=1), "16:30")  # Tuesday: not chosen
    await rounds.tick()
    saturday = MONDAY + timedelta(days=5)
    clock.now = at(saturday, "08:44")
    await rounds.tick()
    assert service.received == []
    clock.now = at(saturday, "08:45")
    await rounds.tick()
    assert len(service.to(phone)) == 1


async def test_reminder_choices_are_checked(
    app: Litestar, client: AsyncTestClient[Litestar], service: PushService
) -> None:
    await staff_with_device(app, client, service, "anna@example.org")
    for body in ({"time": "25:00"}, {"days": []}, {"days": [0]}, {"team_alerts": True}):
        response = await client.patch("/api/v1/me/reminders", json=body)
        assert response.status_code == 400, body


async def test_the_monthly_enps_prompt_comes_on_the_first_reminder_day_of_the_month(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    anna, anna_phone = await staff_with_device(app, client, service, "anna@example.org")
    _, bert_phone = await staff_with_device(app, client, service, "bert@example.org")
    tuesday = datetime(2026, 12, 1, tzinfo=ZONE)
    await check_in(app, anna, at(tuesday, "09:00"))
    clock.now = at(tuesday, "16:30")
    await rounds.tick()
    clock.now = at(tuesday + timedelta(days=1), "16:30")
    await rounds.tick()

    anna_prompt, anna_wednesday = service.to(anna_phone)  # checked in: the eNPS prompt alone
    assert anna_prompt.payload["kind"] == "enps"
    assert (anna_prompt.urgency, anna_prompt.topic) == ("low", "enps")
    assert anna_wednesday.payload["kind"] == "checkin"  # and no second eNPS prompt
    bert_pushes = service.to(bert_phone)  # both due: one message says both; then Wednesday's
    assert [p.payload["body"] for p in bert_pushes] == [
        "Je check-in van vandaag en de vraag van de maand staan klaar.",
        "Je check-in van vandaag staat nog open. Eén tik is genoeg.",
    ]


async def test_the_enps_prompt_follows_the_organisations_cadence(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
    db_path: str,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")

    def cadence(months: int) -> None:
        with sqlite3.connect(db_path) as conn:
            conn.execute("UPDATE organisation SET enps_months = ?", (months,))

    cadence(3)  # quarterly: January, April, July, October
    for day in (datetime(2026, 12, 1), datetime(2027, 1, 1), datetime(2027, 2, 1)):
        clock.now = at(day.replace(tzinfo=ZONE), "16:30")
        await rounds.tick()
    cadence(0)  # never
    clock.now = at(datetime(2027, 4, 1, tzinfo=ZONE), "16:30")
    await rounds.tick()

    checkin = "Je check-in van vandaag staat nog open. Eén tik is genoeg."
    both = "Je check-in van vandaag en de vraag van de maand staan klaar."
    assert [p.payload["body"] for p in service.to(phone)] == [checkin, both, checkin, checkin]
    app_says = await client.get("/api/v1/me")
    assert app_says.json()["enps_due"] is False  # the app agrees: no eNPS at all now


async def test_signing_out_removes_that_devices_subscription_only(
    app: Litestar, client: AsyncTestClient[Litestar], service: PushService
) -> None:
    person_id, token = await add_person(app, email="anna@example.org")
    await sign_in(client, token)
    first = service.device()
    await client.post("/api/v1/push/subscriptions", json=first.subscription())
    other = await _second_device(app, person_id, service)
    page = await client.get("/home")
    assert page.status_code == 200
    csrf = page.text.split('name="_csrf_token" value="')[1].split('"')[0]

    response = await client.post("/signout", data={"_csrf_token": csrf}, follow_redirects=False)

    assert response.status_code == 303
    rows = await db_of(app).fetch_all("SELECT endpoint FROM push_subscriptions")
    assert [r["endpoint"] for r in rows] == [other]


async def _second_device(app: Litestar, person_id: int, service: PushService) -> str:
    """The same person signed in and subscribed on another phone (another session)."""
    clock = app.state.rate_limiter.clock
    session = await auth.create_session(db_of(app), person_id, clock(), 30, "other phone")
    device = service.device()
    keys = push.SubscriptionKeys(**device.subscription()["keys"])
    await push.subscribe(
        db_of(app),
        person_id,
        auth.hash_token(session),
        push.SubscriptionIn(device.endpoint, keys),
        clock(),
    )
    return device.endpoint


async def test_the_vapid_keys_are_made_once_kept_in_the_database_and_never_logged(
    settings: config.Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = []
    for _ in range(2):
        app = create_app(settings, clock)
        async with AsyncTestClient(app, base_url="http://testserver.local") as client:
            _, token = await add_person(app, email=f"p{len(keys)}@example.org")
            await sign_in(client, token)
            keys.append((await client.get("/api/v1/push/key")).json()["public_key"])
            private = await db_of(app).fetch_value("SELECT private_pem FROM push_keys")

    assert keys[0] == keys[1]
    assert len(unb64(keys[0])) == 65  # an uncompressed P-256 point
    secret = str(private).splitlines()[1]
    assert secret not in caplog.text


async def test_only_endpoints_of_allowed_push_services_are_kept(
    app: Litestar, client: AsyncTestClient[Litestar], service: PushService
) -> None:
    await staff_with_device(app, client, service, "anna@example.org")
    keys = service.device().subscription()["keys"]
    for endpoint in (
        "http://10.0.0.1/push/x",  # plain http away from loopback
        "https://internal.example.org/push/x",  # not a listed push service
        "ftp://127.0.0.1/push/x",
        "http://user:pw@127.0.0.1/push/x",
    ):
        body = {"endpoint": endpoint, "keys": keys}
        response = await client.post("/api/v1/push/subscriptions", json=body)
        assert response.status_code == 400, endpoint
    assert push.allowed_endpoint("https://fcm.googleapis.com/fcm/send/abc", "fcm.googleapis.com")
    assert push.allowed_endpoint("https://web.push.apple.com/x", "*.push.apple.com")
    assert not push.allowed_endpoint("https://push.apple.com.evil.org/x", "*.push.apple.com")


async def test_push_needs_a_signed_in_person_and_a_same_origin_json_call(
    app: Litestar, client: AsyncTestClient[Litestar], service: PushService
) -> None:
    device = service.device().subscription()
    assert (await client.get("/api/v1/push/key")).status_code == 401
    assert (await client.post("/api/v1/push/subscriptions", json=device)).status_code == 401
    await staff_with_device(app, client, service, "anna@example.org")
    foreign = {"origin": "https://evil.example"}
    response = await client.post("/api/v1/push/subscriptions", json=device, headers=foreign)
    assert response.status_code == 403


async def test_a_device_unsubscribes_and_gets_no_more_reminders(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "anna@example.org")
    assert (await client.get("/api/v1/me/reminders")).json()["this_device"] is True
    response = await client.request(
        "DELETE", "/api/v1/push/subscriptions", json={"endpoint": phone}
    )
    assert (response.status_code, response.json()) == (200, {"removed": 1})
    assert (await client.get("/api/v1/me/reminders")).json()["this_device"] is False
    clock.now = at(MONDAY, "16:30")
    assert (await rounds.tick()).claimed == 0


def test_a_payload_over_4096_bytes_after_encryption_is_refused(service: PushService) -> None:
    private, public, key = push.VAPID.generate_keys()
    keys = push.VapidKeys(push.Secret(private.decode()), public.decode(), key)
    assert "PRIVATE" not in repr(keys)
    pusher = push.Pusher(keys, "a@example.org")
    device = service.device().subscription()
    args = (device["endpoint"], device["keys"]["p256dh"], device["keys"]["auth"])

    body, headers = pusher.encrypt(*args, b"x" * 3993, 60, "normal", "checkin")
    assert len(body) == 4096
    assert (headers["ttl"], headers["urgency"], headers["topic"]) == ("60", "normal", "checkin")
    with pytest.raises(push.PayloadTooLarge):
        pusher.encrypt(*args, b"x" * 3994, 60, "normal", "checkin")


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert push.parse_retry_after("120") == 120
    assert push.parse_retry_after("Wed, 25 Nov 2026 12:02:00 GMT", now=at(MONDAY, "00:00") + 0) > 0
    assert push.parse_retry_after("soon") is None
    assert push.classify(429, "7") == push.Result("retry", 429, 7.0)
    assert push.classify(404, None).outcome == "gone"
    assert push.classify(400, None).outcome == "failed"


async def test_an_admin_sees_who_has_reminders_on_and_recent_delivery_results(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    await staff_with_device(app, client, service, "anna@example.org")
    _, bert_phone = await staff_with_device(app, client, service, "bert@example.org")
    service.answer(410, endpoint=bert_phone)
    clock.now = at(MONDAY, "16:30")
    await rounds.tick()
    assert (await client.get("/api/v1/push/stats")).status_code == 403  # bert is staff

    client.cookies.clear()
    _, token = await add_person(app, email="admin@example.org", role="admin", team=None)
    await sign_in(client, token)
    response = await client.get("/api/v1/push/stats")

    assert response.status_code == 200
    assert response.json() == {
        "people_with_reminders": 1,
        "subscriptions": 1,
        "days": [
            {"day": "2026-11-23", "sent": 1, "gone": 1, "failed": 0, "expired": 0, "pending": 0}
        ],
    }


async def test_a_manager_who_opted_in_is_alerted_once_per_episode_of_a_teams_drop(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    service: PushService,
    clock: FakeClock,
    rounds: reminders.Scheduler,
) -> None:
    _, phone = await staff_with_device(app, client, service, "lead@example.org", "manager")
    team_id = await db_of(app).fetch_value("SELECT id FROM teams WHERE name = 'Klantenservice'")
    await db_of(app).write(
        "INSERT INTO team_managers (person_id, team_id) SELECT id, ? FROM people"
        " WHERE email = 'lead@example.org' ON CONFLICT DO NOTHING",
        (team_id,),
    )
    assert (
        await client.patch("/api/v1/me/reminders", json={"team_alerts": True})
    ).status_code == 200
    await _mood_that_drops(app, team_id, MONDAY, drop_days=6)

    for day in range(3):  # the drop lasts: one alert, not one a day
        clock.now = at(MONDAY + timedelta(days=day), "16:30")
        await rounds.tick()

    alerts = [p for p in service.to(phone) if p.payload["kind"] == "alert"]
    assert len(alerts) == 1
    assert alerts[0].payload["title"] == "Vroege waarschuwing: Klantenservice"
    assert alerts[0].payload["url"] == "/manager"
    assert alerts[0].topic == f"alert-{team_id}"


async def _mood_that_drops(app: Litestar, team_id: int, until: datetime, drop_days: int) -> None:
    """Eight people checking in every day for 84 days: mixed moods, then days of bad ones."""
    people = [
        (await add_person(app, email=f"member{i}@example.org", name=f"Member {i}"))[0]
        for i in range(8)
    ]
    rows = []
    for back in range(84, 0, -1):
        day = until - timedelta(days=back)
        for i, person_id in enumerate(people):
            good = back > drop_days and (i + back) % 3 != 0
            rows.append(
                NewAnswer(
                    id=answer()["id"],
                    question_id=1,
                    value=2 if good else 1,
                    answered_at=int(at(day, "15:00")),
                    source="demo",
                    person_id=person_id,
                    team_id=team_id,
                )
            )
    await store_batch(db_of(app), rows, until.timestamp())
