"""Browser tests: a real Granian server per test on 127.0.0.1, one Chromium per session."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server.embed import Server as Granian
from litestar import Litestar
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from server import config
from server.app import create_app
from tests.browser.faults import AnswerFaults, ConnectionDropped
from tests.conftest import add_person, free_port

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"width": 360, "height": 740}
T = TypeVar("T")


def outbox_entries_js(database: str) -> str:
    """JavaScript run in the page: an outbox's entries, read straight from its IndexedDB."""
    return OUTBOX_ENTRIES.replace("'spiegel-outbox'", repr(database), 1)


# JavaScript run in the page: the staff app's outbox entries, read straight from IndexedDB.
OUTBOX_ENTRIES = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('spiegel-outbox');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('answers')) { db.close(); resolve([]); return; }
    const all = db.transaction('answers').objectStore('answers').getAll();
    all.onsuccess = () => { db.close(); resolve(all.result); };
    all.onerror = () => reject(all.error);
  };
})"""


class ServerClock:
    """The server's clock: real time, plus a shift a test may move (the only fake)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift

    def advance(self, seconds: float) -> None:
        self.shift += seconds


class _QuietDrops(logging.Filter):
    """The fault wrapper's deliberate connection drops are not errors worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Granian logs the app's exception with its traceback as text, not as exc_info.
        return f"{ConnectionDropped.__name__}: " not in record.getMessage()


@dataclass
class LiveServer:
    app: Litestar
    faults: AnswerFaults
    clock: ServerClock
    db_path: str
    url: str
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's own event loop (the database lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def add_staff(self, email: str = "anna@example.org", name: str = "Anna") -> tuple[int, str]:
        return self.call(add_person(self.app, email=email, name=name, team="Klantenservice"))

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            return list(conn.execute(query, params))

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        conn = sqlite3.connect(self.db_path, timeout=5)
        try:
            conn.execute(statement, params)
            conn.commit()
        finally:
            conn.close()
        self.call(self.app.state.questions.reload(self.app.state.db))


def wait_listening(port: int, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 10
    while True:
        assert thread.is_alive(), "the test server stopped while starting"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.02)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """The app behind Granian's HTTP stack, as `spiegel serve` runs it, but in this process
    (Granian's embedded mode) so that the test shares the server's clock and app."""
    db_path = str(tmp_path / "spiegel.db")
    clock = ServerClock()
    app = create_app(config.load({}, database=db_path), clock)
    faults = AnswerFaults(app)
    port = free_port()
    granian = Granian(
        faults,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        # Errors only: its warning that embedding is experimental is noise in every test.
        log_level=LogLevels.error,
    )
    quiet = _QuietDrops()
    logging.getLogger("_granian.utils").addFilter(quiet)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(granian.serve()), daemon=True)
    thread.start()
    wait_listening(port, thread)
    try:
        yield LiveServer(app, faults, clock, db_path, f"http://127.0.0.1:{port}", loop)
    finally:
        faults.release.set()
        loop.call_soon_threadsafe(granian.stop)
        thread.join(timeout=10)
        loop.close()
        logging.getLogger("_granian.utils").removeFilter(quiet)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, server: LiveServer) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=server.url,
        viewport=PHONE,
        locale="nl-NL",
        timezone_id="Europe/Amsterdam",
        service_workers="allow",
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


def set_offline(context: BrowserContext, server: LiveServer, offline: bool) -> None:
    """Take the phone off the network (or back on)."""
    server.faults.offline = offline
    context.set_offline(offline)


def sign_in(page: Page, server: LiveServer, email: str = "anna@example.org") -> int:
    """Follow a fresh invite link and press the button; wait until the app is ready."""
    person_id, token = server.add_staff(email=email)
    follow_invite(page, token)
    return person_id


def follow_invite(page: Page, token: str) -> None:
    page.goto(f"/signin/{token}")
    page.get_by_role("button").click()
    page.wait_for_url("**/app/")
    wait_ready(page)


def wait_ready(page: Page) -> None:
    """The app has rendered its questions and its service worker controls the page."""
    page.locator(".card.checkin .face").first.wait_for()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def outbox(page: Page) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate(OUTBOX_ENTRIES)
    return entries


def wait_for(condition: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stored_ids(server: LiveServer) -> list[str]:
    return [row[0] for row in server.sql("SELECT id FROM answers ORDER BY answered_at, id")]


def screenshot(page: Page, name: str, full_page: bool = False) -> Path:
    """Save what a 360 x 740 phone shows (or the whole page) under tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
