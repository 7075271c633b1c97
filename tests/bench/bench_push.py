"""Reminder benchmark: 10,000 reminders through the real push path while answers come in.

Run by hand (pytest does not collect tests/bench):

    .venv/bin/python tests/bench/bench_push.py          # --check-every 1: verify every push

It seeds a temporary SQLite file with 10,000 staff members, each signed in on a phone whose
push subscription points at a local push service (tests/pushservice.py: it checks every
push's headers, size and VAPID key, and verifies the JWT's signature and decrypts the payload
of every 10th, so that it takes less of the two cores the server runs on), all due for their
reminder at the same minute. Then
it starts `spiegel serve` on 127.0.0.1, signs one more person in, and measures answer ingest
with wrk (single check-ins, 8 connections): once before the reminders, as the baseline, and
once from the due minute on, while the app's own scheduler sends the 10,000 reminders. It
reports the time from the due minute to the last push received, and the p99 of the ingest
requests made during the send against the baseline. Every process it starts is stopped by
its own id.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server import config  # noqa: E402
from server.db import migrate  # noqa: E402
from tests.bench.bench_ingest import (  # noqa: E402
    cpu_seconds,
    find_wrk,
    free_port,
    invite_token,
    machine,
    running_server,
    server_env,
    sign_in,
)
from tests.pushservice import PushService  # noqa: E402

LUA = Path(__file__).with_name("push_ingest.lua")
TARGET_SECONDS = 20.0
TARGET_P99_FACTOR = 2.0
CONNECTIONS = 8


def seed(database: Path, service: PushService, count: int, now: int) -> list[str]:
    """`count` staff members with a session and a subscription each; their endpoints."""
    migrate(str(database))
    endpoints = []
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO teams (name, created_at) VALUES ('Reminded', ?)", (now,))
        team = conn.execute("SELECT id FROM teams WHERE name = 'Reminded'").fetchone()[0]
        for i in range(count):
            person = conn.execute(
                "INSERT INTO people (email, name, role, team_id, created_at)"
                " VALUES (?, ?, 'staff', ?, ?) RETURNING id",
                (f"r{i}@example.org", f"Reminded {i}", team, now),
            ).fetchone()[0]
            session = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
            conn.execute(
                "INSERT INTO sessions (token_hash, person_id, created_at, last_seen_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (session, person, now, now, now + 86400 * 30),
            )
            device = service.device().subscription()
            conn.execute(
                "INSERT INTO push_subscriptions (person_id, session_hash, endpoint, p256dh,"
                " auth, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    person,
                    session,
                    device["endpoint"],
                    device["keys"]["p256dh"],
                    device["keys"]["auth"],
                    now,
                ),
            )
            # Not due yet: the benchmark picks the minute once the baseline has been taken.
            conn.execute(
                "INSERT INTO reminder_settings (person_id, minute_of_day, days, team_alerts,"
                " updated_at) VALUES (?, 0, 0, 0, ?)",
                (person, now),
            )
            endpoints.append(device["endpoint"])
        conn.execute("COMMIT")
    return endpoints


def make_due(database: Path, zone: ZoneInfo, lead: float) -> float:
    """Set every reminder to the next local minute at least `lead` s away; return its time."""
    now = time.time()
    due = (int((now + lead) // 60) + 1) * 60
    local = datetime.fromtimestamp(due, zone)
    with closing(sqlite3.connect(database, timeout=10)) as conn:
        conn.execute(
            "UPDATE reminder_settings SET minute_of_day = ?, days = 127",
            (local.hour * 60 + local.minute,),
        )
        conn.commit()
    return float(due)


def run_wrk(
    wrk: str, phase: int, seconds: float, base: str, cookie: str, out: Path, pause_ms: int
) -> None:
    at = datetime.fromtimestamp(time.time() - 60, UTC).isoformat()
    n = str(CONNECTIONS)
    command = [wrk, "-t", n, "-c", n, "-d", f"{int(seconds) + 5}s", "--timeout", "10s"]
    command += ["-s", str(LUA), f"{base}/api/v1/answers", "--"]
    command += [str(phase), str(seconds), cookie, at, str(out), str(pause_ms)]
    subprocess.run(command, check=True, capture_output=True, text=True)


def latencies(prefix: Path, start: float, end: float) -> list[float]:
    """Latencies (ms) of the requests of a phase that started within [start, end]."""
    found = []
    for path in prefix.parent.glob(prefix.name + "-*.txt"):
        for line in path.read_text().split("\n"):
            if line:
                sent, seconds, status = line.split()
                if start <= float(sent) <= end and status == "200":
                    found.append(float(seconds) * 1000)
    return sorted(found)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def delivered_states(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the baseline")
    parser.add_argument("--keep", type=Path, help="keep the server log and database here")
    parser.add_argument(
        "--pause",
        type=int,
        default=0,
        help="ms each of the 8 connections waits after a response (0: full load)",
    )
    parser.add_argument(
        "--check-every",
        type=int,
        default=10,
        help="verify the VAPID signature and decrypt every n-th push (all: 1)",
    )
    args = parser.parse_args()
    wrk = find_wrk()
    with tempfile.TemporaryDirectory(prefix="spiegel-push-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in [*folder.glob("*.db*"), *folder.glob("lat-*")]:
            stale.unlink()
        database, port = folder / "bench.db", free_port()
        env = server_env(database, port) | {"SPIEGEL_PUSH_SERVICES": "127.0.0.1"}
        settings = config.load(env)
        base = f"http://127.0.0.1:{port}"

        def server_key() -> str:
            with closing(sqlite3.connect(database)) as conn:
                return str(conn.execute("SELECT public_key FROM push_keys").fetchone()[0])

        with PushService(server_key, check_every=args.check_every) as service:
            print(f"seeding {args.count:,} people with a phone each ...", flush=True)
            endpoints = seed(database, service, args.count, int(time.time()))
            token = invite_token(env)
            with running_server(env, base, folder / "server.log") as pid:
                cookie = sign_in(base, token)
                print("baseline ingest ...", flush=True)
                start = time.time()
                run_wrk(wrk, 1, args.seconds, base, cookie, folder / "lat-base", args.pause)
                baseline = latencies(folder / "lat-base", start, time.time())
                due = make_due(database, settings.zone, lead=5.0)
                print(f"reminders due at {datetime.fromtimestamp(due):%H:%M:%S} ...", flush=True)
                time.sleep(max(0.0, due - time.time() - 1.0))
                cpu_before = (cpu_seconds(pid), time.process_time())
                run_wrk(wrk, 2, 25.0, base, cookie, folder / "lat-send", args.pause)
                deadline = time.monotonic() + 60
                while len(service.received) < args.count and time.monotonic() < deadline:
                    time.sleep(0.2)
                cpu = (cpu_seconds(pid) - cpu_before[0], time.process_time() - cpu_before[1])
                # The service stamps monotonic time; as wall time, relative to now:
                offset = time.time() - time.monotonic()
                last = max(p.at for p in service.received) + offset
                first = min(p.at for p in service.received) + offset
                during = latencies(folder / "lat-send", due, last)
                states = delivered_states(database)
        per_endpoint = {e: 0 for e in endpoints}
        for push in service.received:
            per_endpoint[push.endpoint] += 1
        once = sum(1 for n in per_endpoint.values() if n == 1)
        report(args.count, due, first, last, baseline, during, once, service, states)
        print(
            f"CPU from the due minute to the end of the send phase: server {cpu[0]:.1f} s,"
            f" push service {cpu[1]:.1f} s"
        )
    return 0


def report(
    count: int,
    due: float,
    first: float,
    last: float,
    baseline: list[float],
    during: list[float],
    once: int,
    service: PushService,
    states: dict[str, int],
) -> None:
    took = last - due
    base99, send99 = percentile(baseline, 99), percentile(during, 99)
    print(f"\nMachine: {machine()}")
    print("Granian, one worker process; push service and wrk on the same machine\n")
    print("| measure | value |")
    print("|---|---|")
    checked = sum(1 for p in service.received if p.payload)
    print(f"| reminders received, one per phone | {once:,} of {count:,} |")
    print(f"| of them VAPID-verified and decrypted | {checked:,} |")
    print(f"| refused by the push service | {len(service.refused)} |")
    print(f"| deliveries in the database | {states} |")
    print(f"| due minute to first push received | {first - due:.1f} s |")
    print(f"| due minute to last push received | {took:.1f} s |")
    print(f"| pushes per second (first to last) | {count / max(last - first, 1e-9):,.0f} |")
    print(
        f"| ingest p50 / p99, baseline ({len(baseline):,} requests) | "
        f"{percentile(baseline, 50):.1f} / {base99:.1f} ms |"
    )
    print(
        f"| ingest p50 / p99, during the send ({len(during):,} requests) | "
        f"{percentile(during, 50):.1f} / {send99:.1f} ms |"
    )
    print(
        f"\nTarget all sent in under {TARGET_SECONDS:.0f} s: {took:.1f} s, "
        f"{'met' if took < TARGET_SECONDS and once == count else 'NOT met'}"
    )
    factor = send99 / base99
    print(
        f"Target ingest p99 at most doubled: x{factor:.2f}, "
        f"{'met' if factor <= TARGET_P99_FACTOR else 'NOT met'}"
    )


if __name__ == "__main__":
    sys.exit(main())
