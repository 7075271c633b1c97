"""Demo data: a plausible organisation with twelve weeks of answers, the same for the same seed.

Four teams (one nested), 40 staff, an admin and three managers. One team, the shop, slides
from good days to bad ones from five weeks ago, and its customers follow two weeks later:
the pattern the EX->CX view and the early warning are there to show.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from server import answers, auth, people
from server.answers import NewAnswer
from server.callers import Role
from server.config import Settings
from server.db import Database

CHECKIN, CONTACT_SELF, ENPS, CSAT, NPS = 1, 2, 3, 4, 5
WEEKS = 12
CHUNK = 500
DOMAIN = "spiegel-demo.example"

DROP_STARTS_DAYS_AGO = 35
DROP_SLIDE_DAYS = 7
CSAT_LAG_DAYS = 14
MOOD_DROP = 0.42
CSAT_DROP = 0.35

Channel = Literal["calls", "kiosk", "visits"]
Habit = tuple[float, float, int | None]


@dataclass(frozen=True)
class TeamPlan:
    name: str
    code: str
    parent: str | None
    staff: int
    channel: Channel
    mood: float
    csat: float
    drops: bool = False


TEAMS = (
    TeamPlan("Klantenservice", "KS", None, 12, "calls", 0.74, 0.80),
    TeamPlan("Klantenservice Zakelijk", "KZ", "Klantenservice", 8, "calls", 0.80, 0.86),
    TeamPlan("Winkel Utrecht", "WU", None, 12, "kiosk", 0.82, 0.85, drops=True),
    TeamPlan("Buitendienst", "BD", None, 8, "visits", 0.77, 0.82),
)
MANAGED = (
    ("Klantenservice", "Klantenservice Zakelijk"),
    ("Klantenservice Zakelijk",),
    ("Winkel Utrecht", "Buitendienst"),
)
# fmt: off
FIRST = (
    "Anouk", "Bram", "Chantal", "Daan", "Esra", "Fleur", "Gijs", "Hanna", "Iris", "Jesse",
    "Kim", "Lars", "Mila", "Noah", "Olga", "Pieter", "Roos", "Sanne", "Thijs", "Umut", "Vera",
    "Wout", "Yara", "Zeynep", "Bas", "Lotte", "Mehmet", "Nina", "Ruben", "Sofie",
)
LAST = (
    "de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot",
    "Bos", "Vos", "Peters", "Hendriks", "van Dijk", "Dekker", "Brouwer", "Yilmaz", "El Amrani",
    "Kok", "Jacobs", "van Leeuwen", "Willems", "Schouten", "Koster",
)
# fmt: on


@dataclass(frozen=True)
class Member:
    name: str
    email: str
    role: Role
    team: str | None
    manages: tuple[str, ...] = ()


def roster(seed: int) -> list[Member]:
    """The demo's people: the admin, the managers, then each team's staff."""
    rng = random.Random(seed)
    count = 1 + len(MANAGED) + sum(p.staff for p in TEAMS)
    names = rng.sample([f"{f} {last}" for f in FIRST for last in LAST], count)
    emails = [_email(name) for name in names]
    members = [Member(names[0], emails[0], "admin", None)]
    for i, teams in enumerate(MANAGED, start=1):
        members.append(Member(names[i], emails[i], "manager", teams[0], teams))
    i = 1 + len(MANAGED)
    for plan in TEAMS:
        for _ in range(plan.staff):
            members.append(Member(names[i], emails[i], "staff", plan.name))
            i += 1
    return members


def _email(name: str) -> str:
    first, _, last = name.partition(" ")
    return f"{first}.{last.replace(' ', '')}@{DOMAIN}".lower()


# --- loading ---------------------------------------------------------------------------


async def load(db: Database, settings: Settings, now: float) -> bool:
    """Fill an empty organisation with the demo; False (and nothing changed) if it has people."""
    if await people.has_people(db):
        return False
    zone = settings.zone
    today = datetime.fromtimestamp(now, zone).date()
    first_day = today - timedelta(weeks=WEEKS)
    # Everything is dated from the first demo day, so the data depend on now's date alone.
    since = _local(first_day, 8.0, zone)
    team_ids = await _create_teams(db, since)
    members = roster(settings.demo_seed)
    person_ids = await _create_people(db, members, team_ids, since, settings.invite_hours)
    rng = random.Random(f"{settings.demo_seed}:answers")
    made = Generator(rng, zone, today, team_ids).run(members, person_ids)
    await _store(db, made)
    return True


async def _create_teams(db: Database, now: float) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with db.transaction() as tx:
        for plan in TEAMS:
            parent = ids[plan.parent] if plan.parent else None
            ids[plan.name] = await people.ensure_team(tx, plan.name, parent, now)
    return ids


async def _create_people(
    db: Database, members: list[Member], team_ids: dict[str, int], now: float, hours: int
) -> dict[str, int]:
    # The invites add_person makes are dated `now` (twelve weeks ago), so they are born expired.
    ids: dict[str, int] = {}
    for m in members:
        pid, _ = await people.add_person(
            db, email=m.email, name=m.name, team=m.team, role=m.role, now=now, invite_hours=hours
        )
        ids[m.email] = pid
        for extra in m.manages[1:]:
            await people.add_team_manager(db, pid, team_ids[extra])
    return ids


async def _store(db: Database, made: list[NewAnswer]) -> None:
    made.sort(key=lambda a: (a.answered_at, a.id))
    for start in range(0, len(made), CHUNK):
        chunk = made[start : start + CHUNK]
        # Received when the last answer of the chunk was given: deterministic, never early.
        await answers.store_batch(db, chunk, chunk[-1].answered_at)


def _local(day: date, hour: float, zone: ZoneInfo) -> int:
    """Seconds since the epoch of a wall-clock hour on a local day."""
    # Adding a timedelta to an aware datetime moves the wall clock, as wanted here.
    return int((datetime.combine(day, time(), zone) + timedelta(hours=hour)).timestamp())


def decline(days_ago: int) -> float:
    """0 before the slide, rising to 1 over DROP_SLIDE_DAYS, 1 after."""
    return min(1.0, max(0.0, (DROP_STARTS_DAYS_AGO - days_ago) / DROP_SLIDE_DAYS))


# --- generating answers ----------------------------------------------------------------


class Generator:
    """Draws every answer of the demo from one seeded random stream, day by day."""

    def __init__(self, rng: random.Random, zone: ZoneInfo, today: date, teams: dict[str, int]):
        self.rng = rng
        self.zone = zone
        self.today = today
        self.teams = teams
        self.made: list[NewAnswer] = []
        self.noise = {p.name: [rng.gauss(0, 0.03) for _ in range(WEEKS + 3)] for p in TEAMS}
        self.contacts = 0
        self.enps_done: set[tuple[int, int, int]] = set()

    def run(self, members: list[Member], person_ids: dict[str, int]) -> list[NewAnswer]:
        staff = [m for m in members if m.role == "staff"]
        habits = {m.email: self._habit() for m in staff}
        for day in self.days():
            for plan in TEAMS:
                self._customers(plan, day)
            for m in staff:
                self._staff_day(m, person_ids[m.email], habits[m.email], day)
        return self.made

    def days(self) -> Iterator[date]:
        for back in range(WEEKS * 7, 0, -1):
            yield self.today - timedelta(days=back)

    def _habit(self) -> Habit:
        """(participation, mood offset, days ago a week's leave started, if any) of one person."""
        leave = self.rng.randrange(7, WEEKS * 7) if self.rng.random() < 0.4 else None
        return self.rng.uniform(0.76, 0.97), self.rng.gauss(0, 0.07), leave

    # probabilities

    def ago(self, day: date) -> int:
        return (self.today - day).days

    def mood(self, plan: TeamPlan, day: date, offset: float = 0.0) -> float:
        drop = MOOD_DROP * decline(self.ago(day)) if plan.drops else 0.0
        return _clip(plan.mood + offset + self.noise[plan.name][self.ago(day) // 7] - drop)

    def satisfied(self, plan: TeamPlan, day: date) -> float:
        lagged = self.ago(day) + CSAT_LAG_DAYS
        drop = CSAT_DROP * decline(lagged) if plan.drops else 0.0
        return _clip(plan.csat + self.noise[plan.name][lagged // 7] / 2 - drop)

    # staff

    def _staff_day(self, m: Member, pid: int, habit: Habit, day: date) -> None:
        participation, offset, leave = habit
        on_leave = leave is not None and 0 <= leave - self.ago(day) < 7
        if day.weekday() >= 5 or on_leave or self.rng.random() < 0.04:
            return
        plan = _plan(m.team)
        team = self.teams[plan.name]
        if plan.drops:
            participation -= 0.12 * decline(self.ago(day))
        if self.rng.random() < participation:
            good = self.rng.random() < self.mood(plan, day, offset)
            self.add(CHECKIN, 2 if good else 1, self.at(day, 16.0, 18.0), pid, team)
        if day.day <= 10 and self.rng.random() < 0.18:
            self._enps(plan, day, pid, team, offset)
        if plan.channel == "calls":
            self._calls(plan, day, pid, team)
        elif plan.channel == "visits":
            self._visits(plan, day, team)

    def _enps(self, plan: TeamPlan, day: date, pid: int, team: int, offset: float) -> None:
        """At most once a calendar month, in its first ten days, as the app asks it."""
        if (pid, day.year, day.month) in self.enps_done:
            return
        self.enps_done.add((pid, day.year, day.month))
        value = round(self.rng.gauss(1.5 + 8.5 * self.mood(plan, day, offset), 1.5))
        self.add(ENPS, min(10, max(0, value)), self.at(day, 9.0, 17.0), pid, team)

    def _calls(self, plan: TeamPlan, day: date, pid: int, team: int) -> None:
        for _ in range(self.rng.randint(3, 6)):
            rates, asked = self.rng.random() < 0.6, self.rng.random() < 0.35
            if not (rates or asked):
                continue
            happy = self.rng.random() < self.satisfied(plan, day)
            ref = self.ref(plan, day)
            when = self.at(day, 9.0, 17.0)
            if rates:
                # Agents read most contacts right, but call half the unhappy ones good: misses.
                thinks_good = self.rng.random() < (0.92 if happy else 0.45)
                self.add(CONTACT_SELF, 2 if thinks_good else 1, when + 90, pid, team, ref)
            if asked:
                delay = self.rng.randint(300, 7200)
                self.add(CSAT, self.csat_value(happy), when + delay, None, team, ref)

    def _visits(self, plan: TeamPlan, day: date, team: int) -> None:
        for _ in range(self.rng.randint(1, 3)):
            if self.rng.random() < 0.5:
                happy = self.rng.random() < self.satisfied(plan, day)
                at = self.at(day, 10.0, 20.0)
                self.add(CSAT, self.csat_value(happy), at, None, team, self.ref(plan, day))

    # customers

    def _customers(self, plan: TeamPlan, day: date) -> None:
        team = self.teams[plan.name]
        if plan.channel == "kiosk" and day.weekday() < 6:
            busy = 1.4 if day.weekday() == 5 else 1.0
            for _ in range(round(self.rng.randint(18, 32) * busy)):
                happy = self.rng.random() < self.satisfied(plan, day)
                self.add(CSAT, self.csat_value(happy), self.at(day, 9.5, 17.5), None, team)
        if day.weekday() < 5:
            for _ in range(self.rng.randint(0, 3)):
                mean = 2.5 + 7.5 * self.satisfied(plan, day)
                value = min(10, max(0, round(self.rng.gauss(mean, 1.8))))
                self.add(NPS, value, self.at(day, 10.0, 21.0), None, team)

    # building blocks

    def csat_value(self, happy: bool) -> int:
        if happy:
            return 4 if self.rng.random() < 0.55 else 3
        return 1 if self.rng.random() < 0.4 else 2

    def ref(self, plan: TeamPlan, day: date) -> str:
        self.contacts += 1
        return f"{plan.code}-{day:%Y%m%d}-{self.contacts:05d}"

    def at(self, day: date, start: float, end: float) -> int:
        return _local(day, self.rng.uniform(start, end), self.zone)

    def add(
        self,
        question: int,
        value: int,
        at: int,
        person: int | None,
        team: int,
        ref: str | None = None,
    ) -> None:
        self.made.append(
            NewAnswer(
                id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                question_id=question,
                value=value,
                answered_at=at,
                source="demo",
                person_id=person,
                team_id=team,
                contact_ref=ref,
            )
        )


def _plan(team: str | None) -> TeamPlan:
    return next(p for p in TEAMS if p.name == team)


def _clip(p: float) -> float:
    return min(0.97, max(0.03, p))


# --- sign-in links ---------------------------------------------------------------------


async def sign_in_links(db: Database, settings: Settings, now: float) -> list[tuple[str, str, str]]:
    """Fresh one-time links for the admin, the shop's manager and a contact-centre agent."""
    members = roster(settings.demo_seed)
    shop = next(p.name for p in TEAMS if p.drops)
    chosen = [
        next(m for m in members if m.role == "admin"),
        next(m for m in members if m.role == "manager" and shop in m.manages),
        next(m for m in members if m.role == "staff" and _plan(m.team).channel == "calls"),
    ]
    links: list[tuple[str, str, str]] = []
    for m in chosen:
        pid = await people.person_id_by_email(db, m.email)
        if pid is not None:
            token = await auth.create_invite(db, pid, now, settings.invite_hours)
            links.append((m.role, m.name, people.sign_in_link(settings, token)))
    return links
