"""Hostile input is a clear 4xx, a failing store is a 503 that clients retry, and the edges of
sign-in hold: each class of issue 13, tried as an attacker and as an unlucky operator would."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient

from server import auth, config, errors, people
from server.app import create_app
from server.callers import SCOPES
from server.db import Database, migrate
from tests.conftest import (
    CSRF_INPUT,
    FakeClock,
    add_person,
    answer,
    db_of,
    free_port,
    sign_in,
    signed_in_staff,
)
from tests.test_cli import ROOT
from tests.test_serve import SERVE, serve_env

Client = AsyncTestClient[Litestar]
JSON = {"Content-Type": "application/json"}
COOKIE = auth.SESSION_COOKIE
TOO_DEEP = "The JSON body is nested too deeply (more than 32 levels)."
EMPTY_BODY = "The request body is empty; send a JSON object."
NOT_UTF8 = "The request body is not valid UTF-8 JSON."
LONE_SURROGATE = (
    "The JSON body holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair), "
    "which is not text."
)


def stored(settings: config.Settings, table: str = "answers") -> int:
    conn = sqlite3.connect(settings.database)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines that carry a traceback or report an uncaught exception."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.exc_info or r.exc_text or "Uncaught exception" in r.getMessage()
    ]


@pytest.fixture(autouse=True)
def _capture_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)


# --- one decoding policy for every JSON body ---------------------------------------------


def json_routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, concrete path) of every route that takes a JSON body."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            media = getattr(data.kwarg_definition, "media_type", "application/json") if data else ""
            if data is None or media != "application/json":
                continue
            path = re.sub(r"\{[^}:]+:int\}", "1", route.path)
            path = re.sub(r"\{[^}]+\}", "x", path)
            for method in sorted(handler.http_methods):
                yield method, path


async def callers(app: Litestar, client: Client) -> list[dict[str, str]]:
    """Headers of a staff member, an admin and an API key with every scope: between them
    every JSON route lets one of them through to its body."""
    _, staff = await add_person(app, email="staff@example.org")
    _, admin = await add_person(app, email="admin@example.org", role="admin", team=None)
    found = []
    for token in (staff, admin):
        client.cookies.clear()
        await sign_in(client, token)
        found.append({"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"})
    client.cookies.clear()
    key = await auth.create_api_key(db_of(app), "kassa", None, 0, scopes=SCOPES)
    found.append({"Authorization": f"Bearer {key}"})
    return found


@pytest.mark.parametrize("depth", [40, 5000], ids=["past the limit", "past the recursion limit"])
async def test_deeply_nested_body_is_a_400_on_every_json_route_without_a_traceback(
    app: Litestar, client: Client, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    body = b'{"x": ' + b"[" * depth + b"]" * depth + b"}"
    heads = await callers(app, client)
    routes = sorted(set(json_routes(app)))
    assert len(routes) >= 5, routes
    reached = []
    for method, path in routes:
        statuses = []
        for head in heads:
            response = await client.request(method, path, content=body, headers={**JSON, **head})
            statuses.append(response.status_code)
            if response.status_code == 400:
                assert response.json()["detail"] == TOO_DEEP, (method, path)
                reached.append((method, path))
                break
        # A route none of these callers may use never decodes their body at all.
        assert statuses[-1] == 400 or set(statuses) <= {401, 403}, (method, path, statuses)
    assert len(reached) >= 5, reached
    assert tracebacks(caplog) == []


async def test_deep_nesting_is_measured_without_recursion() -> None:
    assert not errors.deeper_than({"a": [{"b": [1, 2]}]}, 4)
    assert errors.deeper_than({"a": [{"b": [[]]}]}, 4)
    assert not errors.deeper_than("text", 1)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert errors.deeper_than(deep, 32)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", EMPTY_BODY),
        (b"   \n", EMPTY_BODY),
        (b'{"answers": [{"comment": "\\ud83d"}]}', LONE_SURROGATE),
        (b'{"answers": [{"comment": "a\\udc00b"}]}', LONE_SURROGATE),
        (b'{"answers": "\xff\xfe"}', NOT_UTF8),
    ],
    ids=["empty", "blank", "lone high surrogate", "lone low surrogate", "not utf-8"],
)
async def test_unusable_bodies_get_a_400_that_names_the_problem_not_internals(
    app: Litestar,
    client: Client,
    settings: config.Settings,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    detail: str,
) -> None:
    await signed_in_staff(app, client)
    for method, path in [("POST", "/api/v1/answers"), ("PATCH", "/api/v1/me")]:
        response = await client.request(method, path, content=body, headers=JSON)
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == detail
    assert stored(settings) == 0
    assert tracebacks(caplog) == []


async def test_a_body_over_the_size_limit_is_refused_before_it_is_decoded(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    body = b'{"answers": [' + b"[" * settings.max_body_bytes + b"]}"
    response = await client.post("/api/v1/answers", content=body, headers=JSON)
    assert response.status_code == 413


# --- static files --------------------------------------------------------------------------

HOSTILE_NAMES = [
    "%01x.js",
    "a%00b.js",
    "a%0d%0aSet-Cookie:%20x=1",
    "%7f.css",
    "a" * 300 + ".js",
    "a/" * 200 + "b.js",
    "x" * 5000,
    "..%2f..%2fREADME.md",
    "icons/..%2f..%2fserver%2fapp.py",
    "%2e%2e/server/app.py",
    "..%5c..%5cREADME.md",
    "%c0%ae%c0%ae/README.md",
    "app.js%00.png",
    "\u00e9t\u00e9.js",
]


def static_prefixes(app: Litestar) -> list[str]:
    """Every route that serves files by name ({name:path})."""
    return sorted({r.path.split("{")[0] for r in app.routes if ":path}" in r.path})


async def test_any_name_that_is_not_one_of_the_files_is_a_404_without_a_traceback(
    app: Litestar, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    prefixes = static_prefixes(app)
    assert "/app/" in prefixes
    for prefix in prefixes:
        for name in HOSTILE_NAMES:
            response = await client.get(prefix + name)
            assert response.status_code == 404, (prefix, name[:40], response.status_code)
            assert "no such file" in response.text.lower()
    assert (await client.get("/app/app.js")).status_code == 200
    assert (await client.get("/app/icons/icon.svg")).status_code == 200
    assert tracebacks(caplog) == []


# --- texts -------------------------------------------------------------------------------

CONTROLS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\x85", "\x9f"]


async def test_control_characters_in_texts_are_refused_with_a_reason_and_not_stored(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    batch = [answer(1, 2, comment=f"good{c}day") for c in CONTROLS]
    batch += [answer(2, 2, contact_ref=f"order{c}17") for c in CONTROLS]

    response = await client.post("/api/v1/answers", json={"answers": batch})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * len(batch)
    reasons = [r["reason"] for r in results]
    assert reasons[0] == (
        "comment holds a control character (U+0000); only newline and tab are allowed"
    )
    assert all(r.startswith("comment holds a control") for r in reasons[: len(CONTROLS)])
    assert all(r.startswith("contact_ref holds a control") for r in reasons[len(CONTROLS) :])
    assert stored(settings) == 0


async def test_newline_tab_and_any_other_text_are_stored_as_sent(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    text = "Lang\tverhaal,\nmet emoji \U0001f600 en \u00e9\u00e9n \u200d joiner"
    response = await client.post("/api/v1/answers", json={"answers": [answer(comment=text)]})
    assert response.json()["results"][0]["status"] == "stored"
    conn = sqlite3.connect(settings.database)
    try:
        assert conn.execute("SELECT comment FROM answers").fetchone()[0] == text
    finally:
        conn.close()


async def test_a_customers_reason_with_a_control_character_is_refused(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    async with db_of(app).transaction() as tx:
        _, team_id = await tx.execute("INSERT INTO teams (name, created_at) VALUES ('Balie', 0)")
    key = await auth.create_api_key(db_of(app), "kassa", team_id, 0)
    sent = answer(4, 1, reason="te\x00lang")
    response = await client.post(
        "/api/v1/answers", json={"answers": [sent]}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["results"][0]["status"] == "rejected"
    assert response.json()["results"][0]["reason"].startswith("reason holds a control")
    assert stored(settings) == 0


# --- HEAD -----------------------------------------------------------------------------------


async def test_head_answers_every_page_like_get_without_a_body(
    app: Litestar, client: Client
) -> None:
    _, token = await add_person(app)
    for path in ("/", "/app/", "/app/app.js", f"/signin/{token}", "/healthz", "/no/such/page"):
        got = await client.get(path)
        probe = await client.head(path)
        assert probe.status_code == got.status_code, path
        assert probe.content == b"", path
        assert probe.headers.get("content-length") == got.headers.get("content-length"), path
        assert probe.headers.get("content-type") == got.headers.get("content-type"), path


# --- the schema ---------------------------------------------------------------------------

OTHER_HOST = re.compile(r"(?:https?:)?//(?!testserver\.local)[a-z0-9.-]+\.[a-z]{2,}", re.I)


async def test_schema_pages_load_nothing_from_another_host(client: Client) -> None:
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["paths"]
    for path in (
        "/schema",
        "/schema/swagger",
        "/schema/redoc",
        "/schema/elements",
        "/schema/rapidoc",
        "/schema/scalar",
        "/schema/stoplight",
    ):
        response = await client.get(path, headers={"Accept": "text/html"})
        assert response.status_code in {200, 404}, path
        assert not OTHER_HOST.search(response.text), (path, OTHER_HOST.search(response.text))
        if response.headers["content-type"].startswith("text/html"):
            assert "content-security-policy" in response.headers, path


# --- sign-in: failures counted, revocation, one cookie -----------------------------------


async def test_many_good_sign_ins_from_one_address_never_lock_anyone_out(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    """A shop's staff behind one address all sign in the same morning."""
    for n in range(settings.rate_limit_per_minute + 10):
        client.cookies.clear()
        _, token = await add_person(app, email=f"p{n}@example.org", name=f"P{n}")
        await sign_in(client, token)


async def test_failed_sign_ins_from_one_address_are_limited_and_then_lock_that_address(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    _, token = await add_person(app)
    statuses = [
        (await client.get(f"/signin/guess-{n}")).status_code
        for n in range(settings.rate_limit_per_minute + 3)
    ]
    assert statuses[: settings.rate_limit_per_minute] == [410] * settings.rate_limit_per_minute
    assert statuses[-3:] == [429] * 3
    refused = await client.get(f"/signin/{token}")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    clock.advance(61)
    await sign_in(client, token)


async def test_revocation_by_another_process_takes_effect_within_the_stated_bound(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    """`spiegel user signout` runs in another process: the serving process learns of it
    within RecentSessions.TTL seconds (docs/operations.md states the bound)."""
    person_id = await signed_in_staff(app, client)
    assert (await client.get("/api/v1/me")).status_code == 200
    other = Database(settings.database)  # another process's connections and memo
    await other.open()
    try:
        assert await people.revoke_sessions(other, person_id) == 1
    finally:
        await other.close()
    clock.advance(auth.RecentSessions.TTL)
    assert (await client.get("/api/v1/me")).status_code == 401
    operations = (Path(__file__).parent.parent / "docs" / "operations.md").read_text("utf-8")
    assert f"within {auth.RecentSessions.TTL:.0f} seconds" in operations


async def test_sign_out_ends_the_session_the_request_was_signed_in_with(
    app: Litestar, client: Client
) -> None:
    """Two cookies of one name (say, one per domain): the first is the one that counts, at
    sign-out as for every other request."""
    await signed_in_staff(app, client, email="first@example.org")
    first = client.cookies[COOKIE]
    client.cookies.clear()
    await signed_in_staff(app, client, email="second@example.org")
    second = client.cookies[COOKIE]
    client.cookies.clear()
    both = {"Cookie": f"{COOKIE}={first}; {COOKIE}={second}"}

    me = await client.get("/api/v1/me", headers=both)
    assert me.json()["email"] == "first@example.org"
    page = await client.get("/home", headers=both)
    form = CSRF_INPUT.search(page.text)
    assert form is not None, page.text
    with_csrf = {"Cookie": f"{both['Cookie']}; csrftoken={client.cookies['csrftoken']}"}
    out = await client.post(
        "/signout", headers=with_csrf, data={"_csrf_token": form.group(1)}, follow_redirects=False
    )
    assert out.status_code == 303, out.text

    alone = {"Cookie": f"{COOKIE}={first}"}
    assert (await client.get("/api/v1/me", headers=alone)).status_code == 401
    still = await client.get("/api/v1/me", headers={"Cookie": f"{COOKIE}={second}"})
    assert still.status_code == 200 and still.json()["email"] == "second@example.org"


# --- start-up failures ---------------------------------------------------------------------


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The file read-only to the server. Root may write any file whatever its mode, so as
    root the file is made immutable (ext4's `chattr +i`), and mutable again afterwards."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def serve_once(database: str) -> subprocess.CompletedProcess[str]:
    """`spiegel serve` on this database, run to its end."""
    return subprocess.run(
        SERVE,
        cwd=ROOT,
        env=serve_env(database, free_port()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_and_exit_2(done: subprocess.CompletedProcess[str], database: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Spiegel is running" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: cannot use the database {database}: "), lines
    return lines[0]


def test_a_database_in_a_folder_that_cannot_be_made_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    database = str(blocker / "data" / "spiegel.db")
    line = assert_one_line_and_exit_2(serve_once(database), database)
    assert "Not a directory" in line


def test_a_folder_where_the_database_should_be_is_one_line_and_exit_2(tmp_path: Path) -> None:
    database = tmp_path / "spiegel.db"
    database.mkdir()
    line = assert_one_line_and_exit_2(serve_once(str(database)), str(database))
    assert "unable to open database file" in line


def test_a_read_only_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    database = tmp_path / "spiegel.db"
    migrate(str(database))
    with read_only(database):
        line = assert_one_line_and_exit_2(serve_once(str(database)), str(database))
    assert "readonly" in line or "read-only" in line, line


# --- a store that cannot write -------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def quick_busy(db_path: str, clock: FakeClock) -> Litestar:
    """The app with a short busy timeout, so that a held lock outlasts it in a test."""
    return create_app(config.load({}, database=db_path, db_busy_timeout_ms=200), clock)


def assert_try_later(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert "nothing was stored" in response.json()["detail"]


async def test_a_store_locked_by_another_process_is_a_503_with_retry_after_and_stores_nothing(
    quick_busy: Litestar, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, settings = quick_busy, quick_busy.state.settings
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        await signed_in_staff(app, client)
        batch = [answer(1, 1), answer(1, 2)]
        holder = subprocess.Popen(  # noqa: ASYNC220 - started once, read one line
            [sys.executable, "-c", HOLD_LOCK, db_path], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            health = await client.get("/healthz")
            assert health.status_code == 503
            assert health.json()["database"] == "cannot write"
            assert "locked" in health.json()["write_problem"]
            assert_try_later(await client.post("/api/v1/answers", json={"answers": batch}))
            assert (await client.head("/healthz")).status_code == 503
        finally:
            holder.kill()
            holder.wait()
        assert stored(settings) == 0

        again = await client.post("/api/v1/answers", json={"answers": batch})
        assert [r["status"] for r in again.json()["results"]] == ["stored", "stored"]
        assert (await client.get("/healthz")).status_code == 200
    assert stored(settings) == 2
    assert tracebacks(caplog) == []
    assert any("store unavailable" in r.getMessage() for r in caplog.records)


async def test_a_full_store_is_a_503_with_retry_after_and_stores_no_part_of_the_batch(
    app: Litestar, client: Client, settings: config.Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A full file system, made with SQLite's `PRAGMA max_page_count` on the app's own writer
    connection: the file may not grow past the pages it has (SQLITE_FULL, as on a full disk)."""
    await signed_in_staff(app, client)
    db = db_of(app)
    pages = await db.fetch_value("PRAGMA page_count")
    await db.write(f"PRAGMA max_page_count = {pages}")
    batch = [answer(1, 1, comment="x" * 900) for _ in range(200)]

    assert_try_later(await client.post("/api/v1/answers", json={"answers": batch}))
    assert stored(settings) == 0
    health = await client.get("/healthz")
    assert health.status_code == 503 and "full" in health.json()["write_problem"]

    await db.write("PRAGMA max_page_count = 1073741823")
    again = await client.post("/api/v1/answers", json={"answers": batch})
    assert {r["status"] for r in again.json()["results"]} == {"stored"}
    assert stored(settings) == len(batch)
    assert (await client.get("/healthz")).status_code == 200
    assert tracebacks(caplog) == []


async def test_a_read_only_store_is_a_503_with_retry_after_and_health_says_so(
    app: Litestar, client: Client, settings: config.Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's answer to a write on a read-only file (SQLITE_READONLY), made with `PRAGMA
    query_only` on the writer connection (these tests run as root, who may write any file)."""
    await signed_in_staff(app, client)
    await db_of(app).write("PRAGMA query_only = ON")

    assert_try_later(await client.post("/api/v1/answers", json={"answers": [answer()]}))
    health = await client.get("/healthz")
    assert health.status_code == 503 and "read-only" in health.json()["write_problem"]
    assert stored(settings) == 0
    assert tracebacks(caplog) == []


# --- a fault: the server killed during a burst ---------------------------------------------

CLIENTS = 4
BATCH = 20


async def _invites(database: str, count: int) -> list[str]:
    migrate(database)
    db = Database(database)
    await db.open()
    try:
        made = [
            await people.add_person(
                db,
                email=f"p{n}@example.org",
                name=f"P{n}",
                team="Winkel",
                role="staff",
                now=time.time(),
                invite_hours=1,
            )
            for n in range(count)
        ]
    finally:
        await db.close()
    return [token for _, token in made]


@contextmanager
def killable_server(database: str, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`spiegel serve` in a process group of its own, so that a SIGKILL reaches its worker
    processes too (as a power cut would); ended by that group's id."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            SERVE,
            cwd=ROOT,
            env=serve_env(database, port),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "spiegel serve did not become healthy"
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def signed_in_browser(url: str, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=10)
    page = browser.get(f"/signin/{token}")
    csrf = CSRF_INPUT.search(page.text)
    assert csrf is not None, page.text
    assert browser.post(f"/signin/{token}", data={"_csrf_token": csrf.group(1)}).status_code == 303
    return browser


def new_batch() -> list[dict[str, Any]]:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    return [answer(1, 1 + n % 2, at=at) for n in range(BATCH)]


def test_a_server_killed_during_a_burst_keeps_every_acknowledged_answer_and_each_resent_once(
    db_path: str, tmp_path: Path
) -> None:
    """Several phones post answer batches; the server is SIGKILLed mid-burst and started
    again; each phone then re-sends what it never heard back about, as its outbox does."""
    import asyncio
    import threading

    tokens = asyncio.run(_invites(db_path, CLIENTS))
    log = tmp_path / "serve.log"
    acknowledged: dict[str, dict[str, Any]] = {}
    unanswered: list[list[dict[str, Any]]] = [[] for _ in range(CLIENTS)]
    enough = threading.Barrier(CLIENTS + 1)
    lock = threading.Lock()

    def phone(index: int, browser: httpx.Client) -> None:
        sent = 0
        while True:
            batch = new_batch()
            try:
                response = browser.post("/api/v1/answers", json={"answers": batch})
                response.raise_for_status()
            except (httpx.TransportError, httpx.HTTPStatusError):
                unanswered[index].extend(batch)
                return
            statuses = {r["status"] for r in response.json()["results"]}
            assert statuses == {"stored"}, statuses
            with lock:
                acknowledged.update((a["id"], a) for a in batch)
            sent += 1
            if sent == 5:
                enough.wait(timeout=30)

    with killable_server(db_path, log) as (url, process):
        browsers = [signed_in_browser(url, token) for token in tokens]
        cookies = [dict(b.cookies) for b in browsers]
        phones = [threading.Thread(target=phone, args=(i, b)) for i, b in enumerate(browsers)]
        for each in phones:
            each.start()
        enough.wait(timeout=30)  # every phone has had five batches acknowledged
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for each in phones:
            each.join(timeout=30)
        for browser in browsers:
            browser.close()

    assert len(acknowledged) >= CLIENTS * 5 * BATCH
    assert any(unanswered), "some batches were in flight when the server died"
    with killable_server(db_path, log) as (url, _):
        for index, batch in enumerate(unanswered):
            with httpx.Client(base_url=url, cookies=cookies[index], timeout=10) as browser:
                for start in range(0, len(batch), BATCH):
                    chunk = batch[start : start + BATCH]
                    response = browser.post("/api/v1/answers", json={"answers": chunk})
                    assert response.status_code == 200, response.text
                    statuses = {r["status"] for r in response.json()["results"]}
                    assert statuses <= {"stored", "duplicate"}, statuses

    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT id, value FROM answers").fetchall()
    finally:
        conn.close()
    resent = {a["id"]: a for batch in unanswered for a in batch}
    assert len(rows) == len({row[0] for row in rows})
    assert {row[0] for row in rows} == set(acknowledged) | set(resent)
    sent = {**acknowledged, **resent}
    assert all(sent[id_]["value"] == value for id_, value in rows)
    assert "Traceback" not in log.read_text()
