"""Dashboard benchmark: the manager view's server time at 3 and 10 million answers, and answer
ingest while dashboards load.

Run by hand (pytest does not collect tests/bench):

    .venv/bin/python tests/bench/bench_dashboard.py                 # 3 million answers
    .venv/bin/python tests/bench/bench_dashboard.py --answers 10000000

It writes an organisation of 2,000 staff in 150 teams (10 departments of 14 teams) with a year
of answers straight into a SQLite file (executemany, the answers table's triggers and indexes
off, then the indexes and the rollups built by the same SQL the server uses), starts `spiegel
serve` on it, signs in an admin, a department manager and a staff member through real invite
links, and measures, warm, over HTTP on 127.0.0.1:

- the team summary route (`/api/v1/teams/{id}/summary`): one team, the whole tree's
  suppression;
- the CSV export as the admin: the overview of all 150 teams (and as the department manager:
  14 teams), with every figure, trend and alert;
- the manager pages (`/manager`, `/manager/teams/{id}`) when the app serves them;

then the same work in-process (`reports.overview`, `reports.team_detail`) for the function's
own time; the server's memory; answer ingest p50/p99 with wrk alone and again while 4 wrk
connections load dashboards without pause; and that an answer dated three weeks back, posted
now, is in the next summary. Every process it starts is stopped by its own id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server import callers, config, reports  # noqa: E402
from server.callers import Principal  # noqa: E402
from server.db import Database, migrate  # noqa: E402
from server.deps import Context  # noqa: E402
from tests.bench.bench_ingest import (  # noqa: E402
    Phase,
    find_wrk,
    free_port,
    machine,
    run_phase,
    running_server,
    server_env,
    sign_in,
)

BIN = Path(sys.executable).parent
DEPARTMENTS, TEAMS_PER_DEPARTMENT, STAFF = 10, 14, 2000
CHANNELS = ("calls", "shop", "field")
CHUNK = 100_000
TARGET_P95_MS = 100.0

# --- the organisation --------------------------------------------------------------------


class Organisation:
    """Draws a year of answers for 2,000 staff in 140 teams under 10 departments."""

    def __init__(self, answers: int, today: date, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.zone = ZoneInfo("Europe/Amsterdam")
        # Check-ins, eNPS and NPS are about 0.53 million a year; contacts and customer taps,
        # 2.47 million at scale 1, are scaled to reach the target.
        self.scale = max(0.1, (answers - 530_000) / 2_470_000)
        self.rows: list[tuple[Any, ...]] = []
        self.contact = 0

    def teams(self) -> list[tuple[int, str, int | None, str]]:
        """(id, name, parent, channel): departments first, then their teams."""
        found = []
        for d in range(DEPARTMENTS):
            found.append((d + 1, f"Afdeling {d + 1:02d}", None, ""))
        for t in range(DEPARTMENTS * TEAMS_PER_DEPARTMENT):
            parent = t // TEAMS_PER_DEPARTMENT + 1
            found.append((DEPARTMENTS + t + 1, f"Team {t + 1:03d}", parent, CHANNELS[t % 3]))
        return found

    def staff(self, teams: list[tuple[int, str, int | None, str]]) -> list[tuple[int, int]]:
        """(person id, team id); person ids from 100 (the CLI's people come first)."""
        leaves = [t for t in teams if t[2] is not None]
        return [(100 + i, leaves[i % len(leaves)][0]) for i in range(STAFF)]

    def at(self, day: date, start: float, end: float) -> int:
        hour = self.rng.uniform(start, end)
        local = datetime(day.year, day.month, day.day, tzinfo=self.zone) + timedelta(hours=hour)
        return int(local.timestamp())

    def add(self, question: int, value: int, at: int, person: int | None, team: int,
            ref: str | None = None, comment: str | None = None) -> None:  # fmt: skip
        source = "app" if person else "api"
        self.rows.append(
            (str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), question, value, at,
             at + 60, source, person, team, None, ref, comment, "0" * 64)
        )  # fmt: skip

    def generate(self, teams: list[tuple[int, str, int | None, str]]) -> None:
        channel = {t[0]: t[3] for t in teams}
        mood = {t[0]: self.rng.uniform(0.6, 0.9) for t in teams}
        dropping = {t[0] for t in teams[DEPARTMENTS::9]}  # a few teams slide in the last weeks
        people = self.staff(teams)
        for back in range(365, 0, -1):
            day = self.today - timedelta(days=back)
            if day.weekday() >= 5:
                continue
            for team in {t for _, t in people}:
                self.customers(team, channel[team], day)
            for person, team in people:
                good = mood[team] - (0.35 if team in dropping and back < 30 else 0.0)
                self.staff_day(person, team, channel[team], day, good)

    def staff_day(self, person: int, team: int, channel: str, day: date, good: float) -> None:
        rng = self.rng
        if rng.random() < 0.85:
            when = self.at(day, 15.0, 18.0)
            self.add(1, 2 if rng.random() < good else 1, when, person, team)
            if rng.random() < 0.08:  # a re-tap, and now and then a comment with it
                comment = "Druk vandaag" if rng.random() < 0.4 else None
                self.add(1, 2 if rng.random() < good else 1, when + 120, person, team,
                         comment=comment)  # fmt: skip
        if day.day <= 3 and rng.random() < 0.3:
            self.add(3, min(10, max(0, round(rng.gauss(1 + 9 * good, 1.5)))),
                     self.at(day, 9, 17), person, team)  # fmt: skip
        if channel == "calls":
            for _ in range(round(rng.uniform(2, 6) * self.scale)):
                self.contact += 1
                ref = f"c{self.contact}"
                happy = rng.random() < good + 0.05
                when = self.at(day, 9, 17)
                self.add(2, 2 if rng.random() < (0.9 if happy else 0.45) else 1, when, person,
                         team, ref)  # fmt: skip
                if rng.random() < 0.5:
                    self.add(4, rng.choice((3, 4) if happy else (1, 2)), when + 600, None, team,
                             ref)  # fmt: skip

    def customers(self, team: int, channel: str, day: date) -> None:
        rng = self.rng
        taps = {"shop": 90, "field": 25, "calls": 0}[channel]
        for _ in range(round(rng.uniform(0.6, 1.4) * taps * self.scale)):
            self.add(4, rng.choice((1, 2, 3, 3, 4, 4, 4)), self.at(day, 9, 18), None, team)
        for _ in range(rng.randint(0, 3)):
            self.add(5, min(10, max(0, round(rng.gauss(7.5, 2)))), self.at(day, 9, 21), None,
                     team)  # fmt: skip


def build(path: Path, answers: int, today: date) -> int:
    """The organisation and its answers in a new SQLite file; returns the answers written."""
    migrate(str(path))
    org = Organisation(answers, today)
    teams = org.teams()
    started = time.monotonic()
    org.generate(teams)
    print(f"  drew {len(org.rows):,} answers in {time.monotonic() - started:.0f} s", flush=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-400000")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO teams (id, name, parent_id, created_at) VALUES (?, ?, ?, 0)",
            [t[:3] for t in teams],
        )
        conn.executemany(
            "INSERT INTO people (id, email, name, role, team_id, created_at)"
            " VALUES (?, ?, ?, 'staff', ?, 0)",
            [(p, f"staff{p}@bench.example", f"Staff {p}", t) for p, t in org.staff(teams)],
        )
        conn.execute("COMMIT")
        load_answers(conn, org.rows)
    return len(org.rows)


def load_answers(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert with the answers table's triggers and secondary indexes off, then put them back
    and build the rollups with reports.rebuild_statements: what the triggers would have made."""
    started = time.monotonic()
    saved = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'answers'"
        " AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in saved:
        conn.execute(f"DROP {kind.upper()} {name}")
    rows.sort(key=lambda r: r[0])
    conn.execute("BEGIN")
    for start in range(0, len(rows), CHUNK):
        conn.executemany(
            "INSERT INTO answers (id, question_id, value, answered_at, received_at, source,"
            " person_id, team_id, api_key_id, contact_ref, comment, fingerprint)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows[start : start + CHUNK],
        )
    conn.execute("COMMIT")
    print(f"  inserted in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    conn.execute("BEGIN")
    for kind, _, sql in saved:
        if kind == "index":
            conn.execute(sql)
    for sql, params in reports.rebuild_statements("Europe/Amsterdam"):
        conn.execute(sql, params)
    for kind, _, sql in saved:
        if kind == "trigger":
            conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"  indexes and rollups in {time.monotonic() - started:.0f} s", flush=True)


# --- people who look -------------------------------------------------------------------


def spiegel(env: dict[str, str], *args: str) -> str:
    command = [str(BIN / "spiegel"), *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def invite(env: dict[str, str], email: str, name: str, role: str, team: str | None) -> str:
    """A sign-in token for a new person, or a new one for them (a database used before)."""
    args = ["user", "add", "--email", email, "--name", name, "--role", role]
    if team:
        args += ["--team", team]
    try:
        out = spiegel(env, *args)
    except subprocess.CalledProcessError:
        out = spiegel(env, "user", "invite", "--email", email)
    return out.strip().rsplit("/", 1)[1]


# --- measuring -----------------------------------------------------------------------------


def timed(fetch: Callable[[], httpx.Response], count: int) -> list[float]:
    """Milliseconds of count requests, after two warm-up requests (not counted)."""
    for _ in range(2):
        fetch().raise_for_status()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = fetch()
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return times


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (Granian's worker), in MB."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += rss_mb(int(child))
    return total


def dashboard_load(wrk: str, base: str, cookie: str, paths: list[str], seconds: float) -> list[Any]:
    """4 dashboard clients loading without pause in the background: one wrk connection per
    path (wrk is C and epoll: a Python client would take the CPU it is meant to measure)."""
    loaders = []
    for path in paths[:4]:
        command = [wrk, "-t", "1", "-c", "1", "-d", f"{int(seconds)}s", "--timeout", "30s"]
        command += ["-H", f"Cookie: spiegel_session={cookie}", "--latency", base + path]
        loaders.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    return loaders


def wrk_summary(out: str) -> dict[str, Any]:
    """Requests per second and the 50 % and 99 % latency lines of wrk's --latency output."""
    found: dict[str, Any] = {}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            found["requests_per_s"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            found[f"p{words[0][:-1]}"] = words[1]
        elif "Non-2xx" in line:
            found["non_2xx"] = int(words[-1])
    return found


def in_process(database: Path, who: dict[str, Principal], teams: dict[str, int], runs: int) -> dict[str, tuple[float, float]]:  # noqa: E501
    """p50/p95 of the reports functions themselves, on their own read pool."""

    async def measure() -> dict[str, tuple[float, float]]:
        settings = config.load({}, database=str(database))
        db = Database(str(database))
        await db.open()
        ctx = Context(db=db, settings=settings, clock=time.time)
        period = reports.period_from(None, None, None, reports.today_of(ctx))
        work = {
            "overview, admin (150 teams)": lambda: reports.overview(ctx, who["admin"], period),
            "overview, department manager (15 teams)": lambda: reports.overview(
                ctx, who["manager"], period
            ),
            "team page, a team": lambda: reports.team_detail(
                ctx, who["admin"], teams["team"], period
            ),
            "team page, a department": lambda: reports.team_detail(
                ctx, who["admin"], teams["department"], period
            ),
        }
        found = {}
        try:
            for name, call in work.items():
                for _ in range(2):
                    await call()
                times = []
                for _ in range(runs):
                    start = time.perf_counter()
                    await call()
                    times.append((time.perf_counter() - start) * 1000)
                found[name] = percentiles(times)
        finally:
            await db.close()
        return found

    return asyncio.run(measure())


def late_answer_counts(base: str, staff_cookie: str, summary_url: str, admin: httpx.Client) -> bool:
    """An answer dated weeks back (a day of this run's own choosing, 15 to 40 days ago),
    posted now, is in the next summary: its week's mood n grows by one."""
    zone = ZoneInfo("Europe/Amsterdam")
    when = datetime.now(zone) - timedelta(days=random.Random().randint(15, 40), hours=2)
    day = when.date().isoformat()
    params = {"from": day, "to": day}
    before = admin.get(summary_url, params=params).json()["weeks"][0]["mood_n"]
    body = {"answers": [{"id": str(uuid.uuid4()), "question": 1, "value": 2,
                         "answered_at": when.isoformat()}]}  # fmt: skip
    posted = httpx.post(f"{base}/api/v1/answers", json=body,
                        cookies={"spiegel_session": staff_cookie})  # fmt: skip
    if posted.json()["results"][0]["status"] != "stored":
        return False
    after = admin.get(summary_url, params=params).json()["weeks"][0]["mood_n"]
    return bool(after == before + 1)


# --- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3_000_000, help="about this many")
    parser.add_argument("--runs", type=int, default=60, help="timed requests per measurement")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of an ingest phase")
    parser.add_argument("--keep", type=Path, help="keep the database and server log here")
    parser.add_argument("--reuse", action="store_true", help="reuse the database in --keep")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    wrk = find_wrk()
    with tempfile.TemporaryDirectory(prefix="spiegel-dash-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "dashboard.db"
        today = datetime.now(ZoneInfo("Europe/Amsterdam")).date()
        if not (args.reuse and database.exists()):
            for stale in folder.glob("dashboard.db*"):
                stale.unlink()
            print(f"building about {args.answers:,} answers ...", flush=True)
            started = time.monotonic()
            written = build(database, args.answers, today)
            print(f"  {written:,} answers in {time.monotonic() - started:.0f} s", flush=True)
        results = measure(args, wrk, database, folder)
    print(json.dumps(results, indent=1))
    return 0


def measure(args: argparse.Namespace, wrk: str, database: Path, folder: Path) -> dict[str, Any]:
    with closing(sqlite3.connect(database)) as conn:
        count = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        size = database.stat().st_size / 2**20
    port = free_port()
    env = server_env(database, port)
    base = f"http://127.0.0.1:{port}"
    tokens = {
        "admin": invite(env, "admin@bench.example", "Admin", "admin", None),
        "manager": invite(env, "dept@bench.example", "Afdelingshoofd", "manager", "Afdeling 01"),
        "staff": invite(env, "tapper@bench.example", "Tapper", "staff", "Team 004"),
    }
    ids = dict(sqlite3.connect(database).execute("SELECT name, id FROM teams").fetchall())
    team, department = ids["Team 004"], ids["Afdeling 01"]
    results: dict[str, Any] = {"machine": machine(), "answers": count, "database_mb": round(size)}
    with running_server(env, base, folder / "server.log") as pid:
        cookies = {role: sign_in(base, token) for role, token in tokens.items()}
        admin = httpx.Client(base_url=base, cookies={"spiegel_session": cookies["admin"]},
                             timeout=60)  # fmt: skip
        manager = httpx.Client(base_url=base, cookies={"spiegel_session": cookies["manager"]},
                               timeout=60)  # fmt: skip
        first = time.perf_counter()
        admin.get("/api/v1/reports/export.csv").raise_for_status()
        results["first_overview_ms"] = round((time.perf_counter() - first) * 1000)
        pages = admin.get("/manager").status_code == 200
        year = {"from": (date.today() - timedelta(days=364)).isoformat(),
                "to": date.today().isoformat()}  # fmt: skip
        routes: dict[str, Callable[[], httpx.Response]] = {
            "summary route, a team": lambda: admin.get(f"/api/v1/teams/{team}/summary"),
            "summary route, a department": lambda: admin.get(f"/api/v1/teams/{department}/summary"),
            "overview as CSV, admin (150 teams)": lambda: admin.get("/api/v1/reports/export.csv"),
            "overview as CSV, department manager": lambda: manager.get(
                "/api/v1/reports/export.csv"
            ),
            "summary route, a team, a year": lambda: admin.get(
                f"/api/v1/teams/{team}/summary", params=year
            ),
        }
        if pages:
            routes["page /manager, admin"] = lambda: admin.get("/manager")
            routes["page /manager, department manager"] = lambda: manager.get("/manager")
            routes["page /manager/teams/{id}, a team"] = lambda: admin.get(f"/manager/teams/{team}")
        warm = {}
        for name, fetch in routes.items():
            print(f"{name} ...", flush=True)
            p50, p95 = percentiles(timed(fetch, args.runs))
            warm[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        results["http_warm"] = warm
        results["server_rss_mb"] = round(rss_mb(pid))
        staff_cookie = cookies["staff"]
        results["late_answer_in_next_summary"] = late_answer_counts(
            base, staff_cookie, f"/api/v1/teams/{team}/summary", admin
        )
        results["ingest"] = ingest(args, wrk, base, cookies, team, department, pid, pages)
        results["server_rss_mb_after_load"] = round(rss_mb(pid))
    who = {
        "admin": callers.person(1, "admin", "", "", None, None),
        "manager": callers.person(2, "manager", "", "", None, None),
    }
    print("in-process ...", flush=True)
    results["in_process"] = {
        name: {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        for name, (p50, p95) in in_process(
            database, who, {"team": team, "department": department}, args.runs
        ).items()
    }
    return results


def ingest(args: argparse.Namespace, wrk: str, base: str, cookies: dict[str, str], team: int,
           department: int, pid: int, pages: bool) -> dict[str, Any]:  # fmt: skip
    """Single-answer ingest p50/p99 alone, then with 4 connections loading dashboards: the
    reports room's routes (JSON and CSV), then the manager pages when the app has them."""
    loads = {
        "with 4 clients on the report routes": [
            "/api/v1/reports/export.csv", f"/api/v1/teams/{team}/summary",
            f"/api/v1/teams/{department}/summary", "/api/v1/reports/export.csv?preset=quarter",
        ],
    }  # fmt: skip
    if pages:
        loads["with 4 clients on the manager pages"] = [
            "/manager", f"/manager/teams/{team}", f"/manager/teams/{department}",
            "/manager?preset=quarter",
        ]  # fmt: skip
    phase = Phase("single answer per request", 1, 8, args.seconds)
    found = {}
    for number, label in enumerate(["alone", *loads, "alone again"]):
        paths = loads.get(label, [])
        loader = dashboard_load(wrk, base, cookies["admin"], paths, args.seconds + 6)
        if paths:
            time.sleep(2)
        print(f"ingest, {label} ...", flush=True)
        # The script's answer ids derive from the phase number (below 3,900: it fills three hex
        # digits): different per run, so that a database used before (--reuse) does not make
        # them duplicates.
        unique = 100 + (int(time.time()) // 10 * 4 + number) % 3700
        result = run_phase(wrk, unique, phase, base, cookies["staff"], pid)
        entry: dict[str, Any] = {"answers_per_s": round(result.rate),
                                 "p50_ms": round(result.p50_ms, 2),
                                 "p99_ms": round(result.p99_ms, 2)}  # fmt: skip
        if paths:
            entry["dashboards"] = {
                path: wrk_summary(each.communicate(timeout=120)[0])
                for path, each in zip(paths, loader, strict=True)
            }
        found[label] = entry
    return found


if __name__ == "__main__":
    if not shutil.which("wrk") and os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install wrk")
    sys.exit(main())
