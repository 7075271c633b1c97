"""Reminders: who is nudged when, each nudge claimed once in the database, and the scheduler
that runs inside the app and hands each due notification to the push room.

Three kinds of notification: the end-of-day check-in reminder (only to people who have not
checked in that day), the monthly eNPS prompt (on the person's first reminder day of the
month, folded into the check-in reminder when both are due), and a manager's early-warning
alert for a team (once per episode). Each is a row in `notifications`, unique per person,
kind and occasion: whoever inserts the row owns it, so a second scheduler on the same
database, or this one after a restart, inserts nothing and sends nothing. Each device of the
person gets a row in `deliveries`, which a sender leases before posting, so that two
schedulers never post the same delivery either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

import msgspec
import pandas as pd
from litestar import Request, get, patch
from litestar.exceptions import ValidationException
from litestar.params import JSONBody

from server import analytics, i18n, people, push
from server.auth import all_of, caller, hash_token, person_only, same_origin_json, session_token
from server.clock import Clock
from server.config import Settings
from server.db import Database, Row
from server.deps import Ctx

log = logging.getLogger("spiegel.reminders")

DEFAULT_MINUTE = 16 * 60 + 30
DEFAULT_DAYS = 0b0011111  # bit 0 is Monday: Monday to Friday
LEASE_SECONDS = 120  # a delivery a crashed sender held is tried again after this
BATCH = 100  # deliveries leased at a time: small, so each step between sends is short
CONCURRENCY = 16
# Pushes leave at most this fast: each costs ~0.35 ms of the event loop that also takes
# answers in, so a round of 10,000 takes ~12 s and leaves most of the loop to ingest.
PUSHES_PER_SECOND = 750
MAX_ATTEMPTS = 6
FIRST_BACKOFF = 30.0
MAX_BACKOFF = 3600.0
KEEP_DAYS = 62  # notifications are the claims: kept past the longest occasion (a month)
ENPS_TTL = 3 * 86400
ALERT_TTL = 86400
STATS_DAYS = 14

HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7)]


class ReminderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A person's reminder choices, in the organisation's time zone; days are ISO weekdays
    (1 is Monday). `this_device` says whether this device has a push subscription."""

    time: str
    days: list[int]
    team_alerts: bool
    timezone: str
    this_device: bool
    devices: int


class ReminderPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The choices to change; a field left out (or null) stays as it is."""

    time: HHMM | None = None
    days: Annotated[list[Weekday], msgspec.Meta(min_length=1, max_length=7)] | None = None
    team_alerts: bool | None = None


class DayResults(msgspec.Struct, frozen=True):
    """Deliveries made on one local day, by what became of them."""

    day: date
    sent: int
    gone: int
    failed: int
    expired: int
    pending: int


class PushStats(msgspec.Struct, frozen=True):
    """For administrators: who has reminders on, and how delivery went on recent days."""

    people_with_reminders: int
    subscriptions: int
    days: list[DayResults]


class Tick(msgspec.Struct, frozen=True, kw_only=True):
    """What one round of the scheduler did."""

    claimed: int = 0
    sent: int = 0
    gone: int = 0
    retry: int = 0
    failed: int = 0
    expired: int = 0


# --- a person's choices ----------------------------------------------------------------


def days_mask(days: Iterable[int]) -> int:
    return sum(1 << (d - 1) for d in set(days))


def mask_days(mask: int) -> list[int]:
    return [d for d in range(1, 8) if mask & (1 << (d - 1))]


async def choices(db: Database, person_id: int) -> tuple[int, int, bool]:
    """(minute of the day, days mask, team alerts) of a person, defaults if never chosen."""
    row = await db.fetch_one(
        "SELECT minute_of_day, days, team_alerts FROM reminder_settings WHERE person_id = ?",
        (person_id,),
    )
    if row is None:
        return DEFAULT_MINUTE, DEFAULT_DAYS, False
    return int(row["minute_of_day"]), int(row["days"]), bool(row["team_alerts"])


async def choose(db: Database, person_id: int, change: ReminderPatch, now: float) -> None:
    minute, mask, alerts = await choices(db, person_id)
    if change.time is not None:
        hours, minutes = change.time.split(":")
        minute = int(hours) * 60 + int(minutes)
    if change.days is not None:
        mask = days_mask(change.days)
    if change.team_alerts is not None:
        alerts = change.team_alerts
    await db.write(
        "INSERT INTO reminder_settings (person_id, minute_of_day, days, team_alerts, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (person_id) DO UPDATE SET"
        " minute_of_day = excluded.minute_of_day, days = excluded.days,"
        " team_alerts = excluded.team_alerts, updated_at = excluded.updated_at",
        (person_id, minute, mask, int(alerts), int(now)),
    )


async def _settings_of(request: Request[Any, Any, Any], ctx: Ctx) -> ReminderSettings:
    person_id = caller(request).person_id
    assert person_id is not None
    minute, mask, alerts = await choices(ctx.db, person_id)
    devices = await push.devices_of(ctx.db, person_id)
    token = session_token(request)
    here = bool(token) and await push.device_subscribed(ctx.db, hash_token(token or ""))
    return ReminderSettings(
        time=f"{minute // 60:02d}:{minute % 60:02d}",
        days=mask_days(mask),
        team_alerts=alerts,
        timezone=ctx.settings.timezone,
        this_device=here,
        devices=devices,
    )


@get("/api/v1/me/reminders", guards=[person_only])
async def get_reminders(request: Request[Any, Any, Any], ctx: Ctx) -> ReminderSettings:
    """The person's reminder time and days, and whether this device receives them."""
    return await _settings_of(request, ctx)


@patch("/api/v1/me/reminders", guards=[all_of(person_only, same_origin_json)])
async def patch_reminders(
    data: JSONBody[ReminderPatch], request: Request[Any, Any, Any], ctx: Ctx
) -> ReminderSettings:
    """Change the reminder time, days or (managers) team alerts."""
    me = caller(request)
    assert me.person_id is not None
    if data.team_alerts and me.role not in ("manager", "admin"):
        raise ValidationException(detail="Team alerts are for managers.")
    await choose(ctx.db, me.person_id, data, ctx.clock())
    return await _settings_of(request, ctx)


@get("/api/v1/push/stats", guards=[push.admin_only])
async def get_stats(ctx: Ctx) -> PushStats:
    """People with reminders on, and deliveries of the last 14 days by result."""
    return await stats(ctx.db, ctx.clock() - STATS_DAYS * 86400, ctx.settings)


async def stats(db: Database, since: float, settings: Settings) -> PushStats:
    people, subscriptions = await push.counts(db)
    rows = await db.fetch_all(
        "SELECT created_at, state FROM deliveries WHERE created_at >= ?", (int(since),)
    )
    days: dict[date, Counter[str]] = {}
    for row in rows:
        day = datetime.fromtimestamp(row["created_at"], settings.zone).date()
        days.setdefault(day, Counter())[row["state"]] += 1
    results = [
        DayResults(day, c["sent"], c["gone"], c["failed"], c["expired"], c["pending"])
        for day, c in sorted(days.items(), reverse=True)
    ]
    return PushStats(people, subscriptions, results)


route_handlers = [get_reminders, patch_reminders, get_stats]


# --- when: the local moment ------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """`now` seen in the organisation's zone, as the claim queries need it."""

    now: int
    day: date
    minute: int
    weekday_bit: int
    day_start: int
    day_end: int
    month_start: int
    earlier_this_month: int  # days mask of the weekdays this month had before today

    @classmethod
    def of(cls, now: float, settings: Settings) -> Moment:
        zone = settings.zone
        local = datetime.fromtimestamp(now, zone)
        day = local.date()

        def midnight(d: date) -> int:
            return int(datetime.combine(d, time(), zone).timestamp())

        earlier = days_mask(
            (day - timedelta(days=n)).isoweekday() for n in range(1, min(day.day, 8))
        )
        return cls(
            now=int(now),
            day=day,
            minute=local.hour * 60 + local.minute,
            weekday_bit=1 << local.weekday(),
            day_start=midnight(day),
            day_end=midnight(day + timedelta(days=1)),
            month_start=midnight(day.replace(day=1)),
            earlier_this_month=earlier,
        )


# --- claims ----------------------------------------------------------------------------

# People whose reminder moment is now or at most `late` minutes ago, today, on a day they
# chose, and who have a device to send to. Reading `people`, `answers` and `questions` here is
# a set-based read across rooms: one statement for ten thousand people, where a named function
# per person would be ten thousand trips.
_DUE = """
FROM people p LEFT JOIN reminder_settings r ON r.person_id = p.id
WHERE p.active = 1
  AND (COALESCE(r.days, :default_days) & :bit) <> 0
  AND COALESCE(r.minute_of_day, :default_minute) BETWEEN :earliest AND :minute
  AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.person_id = p.id)
"""

_CHECKIN_DUE = (
    _DUE
    + """  AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.person_id = p.id
      AND a.question_id IN (SELECT id FROM questions WHERE kind = 'checkin')
      AND a.answered_at >= :day_start AND a.answered_at < :day_end)
  AND NOT EXISTS (SELECT 1 FROM notifications n
      WHERE n.person_id = p.id AND n.kind = 'checkin' AND n.occasion = :day)"""
)

# The eNPS prompt goes on the person's first reminder day of the month only (a day already
# past is never made up), and not to someone who answered it this month; and only in a month
# that starts a period of the organisation's eNPS cadence (:enps_month is 0 in any other).
_ENPS_DUE = (
    _DUE
    + """  AND :enps_month = 1
  AND (COALESCE(r.days, :default_days) & :earlier) = 0
  AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.person_id = p.id
      AND a.question_id IN (SELECT id FROM questions WHERE kind = 'enps')
      AND a.answered_at >= :month_start)
  AND NOT EXISTS (SELECT 1 FROM notifications n
      WHERE n.person_id = p.id AND n.kind = 'enps' AND n.occasion = :month)"""
)

# Read first, write only when there is something to claim: most rounds claim nothing.
_ANY_DUE = f"SELECT EXISTS (SELECT 1 {_CHECKIN_DUE}) OR EXISTS (SELECT 1 {_ENPS_DUE})"

_CLAIM_CHECKIN = (
    "INSERT INTO notifications (person_id, kind, occasion, text_key, claim, created_at,"
    " expires_at) SELECT p.id, 'checkin', :day, 'push.checkin', :claim, :now, :day_end"
    + _CHECKIN_DUE
    + "\nON CONFLICT (person_id, kind, occasion) DO NOTHING"
)

_CLAIM_ENPS = (
    "INSERT INTO notifications (person_id, kind, occasion, text_key, claim, created_at,"
    " expires_at) SELECT p.id, 'enps', :month, 'push.enps', :claim, :now, :enps_expires"
    + _ENPS_DUE
    + "\nON CONFLICT (person_id, kind, occasion) DO NOTHING"
)

# Both due at once: one notification says both, and the eNPS one is kept as the claim only.
_FOLD = """UPDATE notifications SET text_key = 'push.checkin_enps'
WHERE claim = :claim AND kind = 'checkin' AND person_id IN
  (SELECT person_id FROM notifications WHERE claim = :claim AND kind = 'enps')"""

_DELIVERIES = """INSERT INTO deliveries (notification_id, subscription_id, next_attempt_at,
  created_at)
SELECT n.id, s.id, :now, :now FROM notifications n
JOIN push_subscriptions s ON s.person_id = n.person_id
WHERE n.claim = :claim AND NOT (n.kind = 'enps' AND EXISTS (SELECT 1 FROM notifications c
  WHERE c.claim = n.claim AND c.person_id = n.person_id AND c.kind = 'checkin'))"""

_ALERT_MANAGERS = """SELECT p.id AS person_id, tm.team_id
FROM people p JOIN reminder_settings r ON r.person_id = p.id
JOIN team_managers tm ON tm.person_id = p.id
WHERE p.active = 1 AND r.team_alerts = 1 AND (r.days & :bit) <> 0
  AND r.minute_of_day BETWEEN :earliest AND :minute
  AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.person_id = p.id)"""

_CLAIM_ALERT = """INSERT INTO notifications (person_id, kind, occasion, text_key, team_id,
  claim, created_at, expires_at) VALUES (?, 'alert', ?, 'push.alert', ?, ?, ?, ?)
ON CONFLICT (person_id, kind, occasion) DO NOTHING"""


def enps_month(moment: Moment, months: int) -> bool:
    """Whether this month starts a period of the eNPS cadence (the app asks eNPS once per
    period: people.enps_due), so that the reminder comes once per period, in its first month."""
    first = datetime.combine(moment.day, time())
    return months > 0 and people.enps_period_start(first, months).month == moment.day.month


def _params(moment: Moment, claim: str, late: int, enps_months: int = 0) -> dict[str, Any]:
    month_end = moment.month_start + 32 * 86400  # any moment in the next month is enough
    return {
        "enps_month": 1 if enps_month(moment, enps_months) else 0,
        "claim": claim,
        "now": moment.now,
        "day": moment.day.isoformat(),
        "month": moment.day.isoformat()[:7],
        "day_start": moment.day_start,
        "day_end": moment.day_end,
        "month_start": moment.month_start,
        "enps_expires": min(moment.now + ENPS_TTL, month_end),
        "bit": moment.weekday_bit,
        "earlier": moment.earlier_this_month,
        "minute": moment.minute,
        "earliest": moment.minute - late,
        "default_days": DEFAULT_DAYS,
        "default_minute": DEFAULT_MINUTE,
    }


async def claim_due(
    db: Database, moment: Moment, late: int, alerts: list[tuple[int, int, str]]
) -> int:
    """Claim every notification due at this moment and make its deliveries, in one
    transaction; return how many notifications this call claimed (0 when another scheduler
    or an earlier round already had them)."""
    claim = uuid.uuid4().hex
    # Each statement reads the names it uses.
    params = _params(moment, claim, late, await people.enps_cadence(db))
    alerts = [a for a in alerts if not await _claimed(db, a[0], "alert", f"{a[1]}:{a[2]}")]
    if not alerts and not await db.fetch_value(_ANY_DUE, params):
        return 0
    async with db.transaction() as tx:
        claimed, _ = await tx.execute(_CLAIM_CHECKIN, params)
        more, _ = await tx.execute(_CLAIM_ENPS, params)
        claimed += more
        for person_id, team_id, episode in alerts:
            more, _ = await tx.execute(
                _CLAIM_ALERT,
                (
                    person_id,
                    f"{team_id}:{episode}",
                    team_id,
                    claim,
                    moment.now,
                    moment.now + ALERT_TTL,
                ),
            )
            claimed += more
        if claimed:
            await tx.execute(_FOLD, params)
            await tx.execute(_DELIVERIES, params)
    return claimed


async def _claimed(db: Database, person_id: int, kind: str, occasion: str) -> bool:
    found = await db.fetch_value(
        "SELECT 1 FROM notifications WHERE person_id = ? AND kind = ? AND occasion = ?",
        (person_id, kind, occasion),
    )
    return found is not None


async def alert_managers(db: Database, moment: Moment, late: int) -> list[tuple[int, int]]:
    """(manager, team) pairs whose alert check is due now: opted in, at their moment."""
    rows = await db.fetch_all(_ALERT_MANAGERS, _params(moment, "", late))
    return [(int(r["person_id"]), int(r["team_id"])) for r in rows]


async def team_checkins(db: Database, team_id: int, since: float) -> pd.DataFrame:
    """The team's check-ins since `since` as the answers frame analytics expects."""
    rows = await db.fetch_all(
        "SELECT a.person_id, a.question_id, a.value, a.answered_at, q.scale_min, q.scale_max"
        " FROM answers a JOIN questions q ON q.id = a.question_id"
        " WHERE a.team_id = ? AND q.kind = 'checkin' AND a.answered_at >= ?",
        (team_id, int(since)),
    )
    return pd.DataFrame(
        {
            "respondent": [f"p{r['person_id']}" for r in rows],
            "team": [team_id] * len(rows),
            "kind": ["checkin"] * len(rows),
            "question": [r["question_id"] for r in rows],
            "value": [r["value"] for r in rows],
            "scale_min": [r["scale_min"] for r in rows],
            "scale_max": [r["scale_max"] for r in rows],
            "answered_at": pd.array([r["answered_at"] for r in rows], dtype="int64"),
            "contact_ref": [None] * len(rows),
            "aspect": [None] * len(rows),
            "comment": [None] * len(rows),
        }
    )


def alert_episode(frame: pd.DataFrame, today: date, settings: Settings) -> str | None:
    """The start day of the team's current early-warning episode, or None. Only a team with
    at least k respondents in the chart's window can alert (the anonymity rule)."""
    if frame.empty:
        return None
    local = analytics.localise(frame, settings.zone)
    window_start = pd.Timestamp(today) - pd.Timedelta(days=analytics.WINDOW_DAYS - 1)
    recent = local[local["day"] >= window_start]
    if recent["respondent"].nunique() < settings.anonymity_k:
        return None
    chart = analytics.control_chart(analytics.daily_mood(local), end=today)
    if not chart.alert or chart.alert_since is None:
        return None
    return chart.alert_since.isoformat()


# --- deliveries --------------------------------------------------------------------------

_EXPIRE = """UPDATE deliveries SET state = 'expired', done_at = :now, lease_until = 0
WHERE state = 'pending' AND notification_id IN
  (SELECT id FROM notifications WHERE expires_at <= :now)
RETURNING id"""

_ORPHANS = """UPDATE deliveries SET state = 'gone', done_at = :now
WHERE state = 'pending' AND subscription_id IS NULL"""

# The conditions stand in the outer WHERE as well: on PostgreSQL a second sender that waited
# for the first one's row lock re-checks them and skips the row instead of leasing it again.
_LEASE = """UPDATE deliveries SET lease_until = :lease, attempts = attempts + 1
WHERE state = 'pending' AND next_attempt_at <= :now AND lease_until <= :now
  AND subscription_id IS NOT NULL
  AND id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= :now
    AND lease_until <= :now AND subscription_id IS NOT NULL ORDER BY id LIMIT :n)
RETURNING id"""

_DETAILS = """SELECT d.id, d.attempts, d.subscription_id, s.endpoint, s.p256dh, s.auth,
  n.kind, n.text_key, n.expires_at, n.team_id, t.name AS team,
  -- The person's language while the organisation still offers it, else its default.
  CASE WHEN ' ' || o.languages || ' ' LIKE '% ' || p.language || ' %' THEN p.language
    ELSE o.default_language END AS language
FROM deliveries d
JOIN notifications n ON n.id = d.notification_id
JOIN push_subscriptions s ON s.id = d.subscription_id
JOIN people p ON p.id = n.person_id
JOIN organisation o ON o.id = 1
LEFT JOIN teams t ON t.id = n.team_id
WHERE d.id IN ({marks})"""


def payload(kind: str, text_key: str, language: str, team: str | None) -> bytes:
    """The notification as the service worker shows it, in the person's language; small."""
    say = i18n.translator(language)
    values = {"team": team or ""}
    return msgspec.json.encode(
        {
            "kind": kind,
            "title": say(f"{text_key}.title", **values),
            "body": say(f"{text_key}.body", **values),
            "url": "/manager" if kind == "alert" else "/app/",
            "tag": f"spiegel-{kind}",
            "lang": language,
        }
    )


def urgency_of(kind: str) -> push.Urgency:
    return "low" if kind == "enps" else "normal"


def topic_of(kind: str, team_id: int | None) -> str:
    # A Topic lets the push service replace an undelivered older message of the same topic
    # with a newer one (RFC 8030 5.4): at most 32 characters of the base64url alphabet.
    return f"alert-{team_id}" if kind == "alert" else kind


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: doubling from 30 s, never sooner than Retry-After."""
    own = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** max(0, attempts - 1))
    return max(own, retry_after or 0.0)


class Pace:
    """Spaces calls evenly at `per_second` (real time, whatever the clock says)."""

    def __init__(self, per_second: float) -> None:
        self.gap = 1.0 / per_second
        self.next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next)
        self.next = slot + self.gap
        if slot > now:
            await asyncio.sleep(slot - now)


class Scheduler:
    """The reminder loop of one app process: claim what is due, deliver, sleep till the next
    minute (or the next retry). Several may run on one database; the claims keep them apart."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        db: Database | None = None,
        pusher: push.Pusher | None = None,
    ) -> None:
        # The app passes its own Database: answers and reminders then queue for the one
        # writer in order, where two connections would wait on SQLite's busy sleeps (up to
        # 100 ms a step). Without one, the scheduler opens its own, as another process would.
        self.db = db or Database(settings.database, settings.db_synchronous)
        self._own_db = db is None
        self.settings = settings
        self.clock = clock
        self.pusher = pusher
        self._own_pusher = pusher is None
        self._task: asyncio.Task[None] | None = None
        self._charts: dict[tuple[int, date], str | None] = {}
        self._pruned: date | None = None
        self._pace = Pace(PUSHES_PER_SECOND)
        self.ticks = 0

    async def start(self) -> None:
        """Make the VAPID keys if this is the first start; run the loop if reminders are on."""
        if self._own_db:
            await self.db.open()
        keys = await push.ensure_keys(self.db, self.clock())
        if self.pusher is None:
            self.pusher = push.Pusher(keys, push.contact(self.settings))
        if self.settings.reminders:
            self._task = asyncio.create_task(self._run(), name="spiegel-reminders")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.pusher is not None and self._own_pusher:
            await self.pusher.aclose()
            self.pusher = None
        if self._own_db:
            await self.db.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
                pause = await self._pause()
            except Exception:  # a bad round must not end reminders for good
                log.exception("reminders: a round failed")
                pause = 60.0
            await asyncio.sleep(pause)

    async def _pause(self) -> float:
        now = self.clock()
        until_minute = 60 - now % 60 + 0.5
        retry = await self.db.fetch_value(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )
        wait = until_minute if retry is None else min(until_minute, float(retry) - now)
        return min(60.0, max(1.0, wait))

    async def tick(self) -> Tick:
        """One round: claim what is due now, then deliver whatever is due to be sent."""
        moment = Moment.of(self.clock(), self.settings)
        late = self.settings.reminder_late_minutes
        alerts = await self._alerts(moment, late)
        claimed = await claim_due(self.db, moment, late, alerts)
        totals = await self.deliver()
        if self._pruned != moment.day:
            await prune(self.db, moment.now)
            self._pruned = moment.day
        self.ticks += 1
        return msgspec.structs.replace(totals, claimed=claimed)

    async def _alerts(self, moment: Moment, late: int) -> list[tuple[int, int, str]]:
        found = []
        for person_id, team_id in await alert_managers(self.db, moment, late):
            key = (team_id, moment.day)
            if key not in self._charts:
                since = moment.day_start - (analytics.BASELINE_DAYS + analytics.WINDOW_DAYS) * 86400
                frame = await team_checkins(self.db, team_id, since)
                self._charts = {k: v for k, v in self._charts.items() if k[1] == moment.day}
                self._charts[key] = alert_episode(frame, moment.day, self.settings)
            episode = self._charts[key]
            if episode is not None:
                found.append((person_id, team_id, episode))
        return found

    async def deliver(self) -> Tick:
        """Send every delivery that is due, in leased batches, and record each outcome."""
        counts: Counter[str] = Counter()
        now = int(self.clock())
        if not await self.db.fetch_value("SELECT 1 FROM deliveries WHERE state = 'pending'"):
            return Tick()
        counts["expired"] += len(await self.db.write(_EXPIRE, {"now": now}))
        await self.db.write(_ORPHANS, {"now": now})
        while True:
            now = int(self.clock())
            leased = await self.db.write(
                _LEASE, {"lease": now + LEASE_SECONDS, "now": now, "n": BATCH}
            )
            if not leased:
                break
            ids = [int(r["id"]) for r in leased]
            rows = await self.db.fetch_all(_DETAILS.format(marks=", ".join("?" * len(ids))), ids)
            results = await self._send_all(rows)
            counts.update(await self._record(rows, results, now))
        return Tick(**{k: v for k, v in counts.items() if k in Tick.__struct_fields__})

    async def _send_all(self, rows: list[Row]) -> list[push.Result]:
        """Send a batch through CONCURRENCY workers, paced; results in the rows' order."""
        results: list[push.Result] = [push.Result("retry")] * len(rows)
        bodies: dict[tuple[str, str, str, str | None], bytes] = {}
        todo = iter(enumerate(rows))

        async def worker() -> None:
            # A few workers rather than a task per row: starting hundreds of tasks at once
            # holds the event loop for milliseconds, which answers in flight would feel.
            for index, row in todo:
                key = (row["kind"], row["text_key"], row["language"], row["team"])
                if key not in bodies:
                    bodies[key] = payload(*key)
                await self._pace.wait()
                results[index] = await self._send(row, bodies[key])

        await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(rows)))))
        return results

    async def _send(self, row: Row, body: bytes) -> push.Result:
        assert self.pusher is not None
        ttl = max(0, int(row["expires_at"]) - int(self.clock()))
        try:
            data, headers = self.pusher.encrypt(
                row["endpoint"],
                row["p256dh"],
                row["auth"],
                body,
                ttl,
                urgency_of(row["kind"]),
                topic_of(row["kind"], row["team_id"]),
            )
        except push.PayloadTooLarge:
            log.error("reminders: %s payload over 4,096 bytes, not sent", row["text_key"])
            return push.Result("failed", 413)
        except ValueError:  # keys that are not a P-256 point: the subscription is unusable
            return push.Result("gone")
        return await self.pusher.post(row["endpoint"], data, headers)

    async def _record(self, rows: list[Row], results: list[push.Result], now: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        groups: dict[tuple[str, int | None, int, int | None], list[int]] = {}
        gone: list[int] = []
        for row, result in zip(rows, results, strict=True):
            state, next_at, done = self._state(row, result, now)
            counts["retry" if state == "pending" else state] += 1
            groups.setdefault((state, result.status, next_at, done), []).append(int(row["id"]))
            if result.outcome == "gone":
                gone.append(int(row["subscription_id"]))
        # One statement per outcome, each its own transaction: no write lock is held across
        # trips to the database's thread, so answers queue behind one statement at most.
        for (state, status, next_at, done), ids in groups.items():
            marks = ", ".join("?" * len(ids))
            await self.db.write(
                "UPDATE deliveries SET state = ?, last_status = ?, next_attempt_at = ?,"
                f" lease_until = 0, done_at = ? WHERE id IN ({marks})",
                [state, status, next_at, done, *ids],
            )
        await push.forget(self.db, gone)
        return counts

    def _state(self, row: Row, result: push.Result, now: int) -> tuple[str, int, int | None]:
        """(state, next attempt, done at) of a delivery after this attempt."""
        if result.outcome == "sent":
            return "sent", now, now
        if result.outcome in ("gone", "failed"):
            return result.outcome, now, now
        next_at = now + math.ceil(backoff(int(row["attempts"]), result.retry_after))
        if int(row["attempts"]) >= MAX_ATTEMPTS:
            return "failed", now, now
        if next_at >= int(row["expires_at"]):
            return "expired", now, now
        return "pending", next_at, None


async def prune(db: Database, now: float) -> None:
    """Forget notifications (and their deliveries) older than any occasion they guard."""
    cutoff = int(now - KEEP_DAYS * 86400)
    if await db.fetch_value("SELECT 1 FROM notifications WHERE created_at < ?", (cutoff,)):
        await db.write("DELETE FROM notifications WHERE created_at < ?", (cutoff,))
