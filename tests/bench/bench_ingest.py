"""Answer ingest benchmark: answers per second through POST /api/v1/answers over loopback.

Run by hand (pytest does not collect tests/bench):

    .venv/bin/python tests/bench/bench_ingest.py        # or: make bench

It starts `spiegel serve` on 127.0.0.1 with a temporary SQLite file, signs a staff member in
through a real invite link, and drives the server with wrk (C, epoll; a Lua script makes a
unique answer id per answer): single-answer requests at 8 and 16 connections, then
500-answer batches. Then it inserts the same rows into the same schema with plain sqlite3
(executemany, 500-row transactions, WAL, the same synchronous setting) for the raw rate.
After the HTTP phases it checks that the database holds exactly the answers acknowledged
as stored. Every process it starts is stopped by its own id.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server import config  # noqa: E402
from server.answers import NewAnswer  # noqa: E402
from server.db import migrate  # noqa: E402

BIN = Path(sys.executable).parent
LUA = Path(__file__).with_name("answers.lua")
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
TARGET_SINGLE = 1500
TARGET_BATCH_SHARE = 0.25
CHUNK = 500


@dataclass(frozen=True)
class Phase:
    name: str
    batch: int
    connections: int
    seconds: float


@dataclass(frozen=True)
class Result:
    phase: Phase
    answers: int
    requests: int
    failed: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cores: float
    client_cores: float

    @property
    def rate(self) -> float:
        return self.answers / self.seconds


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIEGEL_")}
    env.update(SPIEGEL_DATABASE=str(database), SPIEGEL_HOST="127.0.0.1", SPIEGEL_PORT=str(port))
    return env


def invite_token(env: dict[str, str]) -> str:
    """A staff member made with `spiegel user add`; the token of their sign-in link."""
    team = [str(BIN / "spiegel"), "team", "add", "--name", "Bench"]
    subprocess.run(team, env=env, check=True, capture_output=True)
    command = [str(BIN / "spiegel"), "user", "add", "--email", "bench@example.org"]
    command += ["--name", "Bench", "--team", "Bench", "--role", "staff"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return out.strip().rsplit("/", 1)[1]


@contextmanager
def running_server(env: dict[str, str], base: str, log: Path) -> Iterator[int]:
    """`spiegel serve` in a child process; yields its pid and stops it (by that pid) at exit."""
    with log.open("wb") as out:
        server = subprocess.Popen([str(BIN / "spiegel"), "serve"], env=env, stdout=out, stderr=out)
        try:
            wait_healthy(base, server)
            yield server.pid
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become healthy in 30 s")


def sign_in(base: str, token: str) -> str:
    """Follow the invite as a browser does; return the session cookie's value."""
    with httpx.Client(base_url=base) as browser:
        page = browser.get(f"/signin/{token}")
        match = CSRF_INPUT.search(page.text)
        if page.status_code != 200 or match is None:
            raise SystemExit(f"sign-in page failed: {page.status_code}")
        done = browser.post(f"/signin/{token}", data={"_csrf_token": match.group(1)})
        if done.status_code != 303 or "spiegel_session" not in browser.cookies:
            raise SystemExit(f"sign-in failed: {done.status_code}")
        return str(browser.cookies["spiegel_session"])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its living descendants (Granian serves
    from a worker process), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the load ----------------------------------------------------------------------------


def run_phase(
    wrk: str, number: int, phase: Phase, base: str, cookie: str, server_pid: int
) -> Result:
    at = datetime.fromtimestamp(time.time() - 60, UTC).isoformat()
    n = str(phase.connections)
    # wrk's own -d only bounds the run; the Lua script stops each thread after `seconds`.
    command = [wrk, "-t", n, "-c", n, "-d", f"{int(phase.seconds) + 3}s", "--timeout", "10s"]
    command += ["-s", str(LUA), f"{base}/api/v1/answers", "--"]
    command += [str(number), str(phase.batch), str(phase.seconds), cookie, at]
    server_before, client_before = cpu_seconds(server_pid), children_cpu()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    server_used, client_used = (
        cpu_seconds(server_pid) - server_before,
        children_cpu() - client_before,
    )
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    data = json.loads(line[len("BENCH ") :])
    if data["sent"] != data["received"]:
        raise SystemExit(f"{phase.name}: {data['sent'] - data['received']} requests unanswered")
    return Result(
        phase=phase,
        answers=data["stored"],
        requests=data["received"],
        failed=data["failed"] + data["socket_errors"],
        seconds=data["seconds"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        # The server ran for wrk's whole -d; wrk's threads worked for `seconds` of it.
        server_cores=server_used / data["seconds"],
        client_cores=client_used / data["seconds"],
    )


def count_answers(database: Path) -> int:
    with closing(sqlite3.connect(database)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


# --- raw SQLite ------------------------------------------------------------------------


def raw_rows(count: int, now: int) -> list[tuple[object, ...]]:
    """Rows as the server stores a staff check-in (person 1, team 1), fingerprint included."""
    rows: list[tuple[object, ...]] = []
    for i in range(count):
        answer = NewAnswer(
            id=str(uuid.uuid4()),
            question_id=1,
            value=i % 2 + 1,
            answered_at=now - 60,
            source="app",
            person_id=1,
            team_id=1,
        )
        rows.append(
            (
                answer.id,
                1,
                answer.value,
                now - 60,
                now,
                "app",
                1,
                1,
                None,
                None,
                None,
                answer.fingerprint(),
            )
        )
    return rows


def raw_sqlite_rate(database: Path, seconds: float, synchronous: str) -> tuple[int, float]:
    """Rows inserted and seconds spent inside the transactions (row building is not timed)."""
    migrate(str(database))
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    now = int(time.time())
    conn.execute("INSERT INTO teams (id, name, created_at) VALUES (1, 'Bench', ?)", (now,))
    conn.execute(
        "INSERT INTO people (id, email, name, role, team_id, created_at)"
        " VALUES (1, 'bench@example.org', 'Bench', 'staff', 1, ?)",
        (now,),
    )
    insert = (
        "INSERT INTO answers (id, question_id, value, answered_at, received_at, source, person_id,"
        " team_id, api_key_id, contact_ref, comment, fingerprint)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    inserted, spent = 0, 0.0
    with closing(conn):
        while spent < seconds:
            rows = raw_rows(CHUNK, now)
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
            spent += time.perf_counter() - start
            inserted += len(rows)
    return inserted, spent


# --- the report --------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"nproc {os.cpu_count()}, {cpu}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {platform.system()} {platform.release()}"
    )


def report(results: list[Result], raw: tuple[int, float], synchronous: str, verified: str) -> None:
    print(f"\nMachine: {machine()}")
    print(f"SQLite synchronous={synchronous}, WAL; Granian, one worker process (uvloop)\n")
    print(
        "| phase | connections | answers/s | requests/s | p50 ms | p99 ms | server cores "
        "| wrk cores | failed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.phase.name} | {r.phase.connections} | {r.rate:,.0f} | "
            f"{r.requests / r.seconds:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.server_cores:.2f} | {r.client_cores:.2f} | {r.failed} |"
        )
    raw_rate = raw[0] / raw[1]
    print(
        f"| raw sqlite3 executemany, 500-row transactions | - | {raw_rate:,.0f} | - | - | - "
        "| - | - | - |"
    )
    print(f"\nVerification: {verified}")
    single = max(r.rate for r in results if r.phase.batch == 1)
    batch = max(r.rate for r in results if r.phase.batch > 1)
    share = batch / raw_rate
    print(
        f"Target single-answer requests >= {TARGET_SINGLE:,}/s: {single:,.0f}/s, "
        f"{'met' if single >= TARGET_SINGLE else 'NOT met'}"
    )
    print(
        f"Target batch ingest >= {TARGET_BATCH_SHARE:.0%} of raw SQLite: {share:.0%} "
        f"({batch:,.0f} of {raw_rate:,.0f} rows/s), "
        f"{'met' if share >= TARGET_BATCH_SHARE else 'NOT met'}"
    )


# --- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the server log and database here")
    parser.add_argument("--log-level", help="SPIEGEL_LOG_LEVEL of the server (default: its own)")
    parser.add_argument(
        "--synchronous", choices=["NORMAL", "FULL"], help="SPIEGEL_DB_SYNCHRONOUS (default: FULL)"
    )
    return parser.parse_args()


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0:
        print("installing wrk with apt-get ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        return shutil.which("wrk") or "wrk"
    raise SystemExit("wrk is missing: apt-get install wrk")


def main() -> int:
    args = parse_args()
    wrk = find_wrk()
    phases = [
        Phase("warm-up (not reported)", 1, 8, 2.0),
        Phase("single answer per request", 1, 8, args.seconds),
        Phase("single answer per request", 1, 16, args.seconds),
        Phase("500 answers per request", 500, args.batch_connections, args.seconds),
    ]
    with tempfile.TemporaryDirectory(prefix="spiegel-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        database, port = folder / "bench.db", free_port()
        for stale in folder.glob("*.db*"):
            stale.unlink()
        env = server_env(database, port)
        if args.log_level:
            env["SPIEGEL_LOG_LEVEL"] = args.log_level
        if args.synchronous:
            env["SPIEGEL_DB_SYNCHRONOUS"] = args.synchronous
        base = f"http://127.0.0.1:{port}"
        token = invite_token(env)
        results = []
        with running_server(env, base, folder / "server.log") as pid:
            cookie = sign_in(base, token)
            for number, phase in enumerate(phases):
                print(f"{phase.name}, {phase.connections} connections ...", flush=True)
                results.append(run_phase(wrk, number, phase, base, cookie, pid))
        acknowledged = sum(r.answers for r in results)
        stored = count_answers(database)
        verified = f"{acknowledged:,} answers acknowledged as stored, {stored:,} in the database"
        if stored != acknowledged:
            raise SystemExit(f"MISMATCH: {verified}")
        print("raw sqlite3 inserts ...", flush=True)
        synchronous = config.load(env).db_synchronous.upper()
        raw = raw_sqlite_rate(folder / "raw.db", args.seconds, synchronous)
    report(results[1:], raw, synchronous, verified + " (equal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
