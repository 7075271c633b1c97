"""Shared fixtures: a real SQLite file per test, the real app, and a fake clock (the only fake)."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import callers, config, people
from server.app import create_app
from server.db import Database

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running for as long as
    its session-wide fixture lives, and the async tests cannot run beside it."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def iso(self, offset: float = 0) -> str:
        return datetime.fromtimestamp(self.now + offset, UTC).isoformat()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "spiegel.db")


@pytest.fixture
def settings(db_path: str) -> config.Settings:
    return config.load({}, database=db_path)


@pytest.fixture
def app(settings: config.Settings, clock: FakeClock) -> Litestar:
    return create_app(settings, clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield c


def db_of(app: Litestar) -> Database:
    database: Database = app.state.db
    return database


async def add_person(
    app: Litestar,
    email: str = "anna@example.org",
    role: callers.Role = "staff",
    team: str | None = "Klantenservice",
    name: str = "Anna",
) -> tuple[int, str]:
    """A new person and their one-time sign-in token."""
    clock = app.state.rate_limiter.clock
    return await people.add_person(
        db_of(app), email=email, name=name, team=team, role=role, now=clock(), invite_hours=168
    )


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def sign_in(client: AsyncTestClient[Litestar], token: str) -> None:
    """Follow the invite link as a browser would: open the page, press the button."""
    page = await client.get(f"/signin/{token}")
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match, "the sign-in page carries a CSRF field"
    response = await client.post(
        f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


async def signed_in_staff(
    app: Litestar, client: AsyncTestClient[Litestar], email: str = "anna@example.org"
) -> int:
    person_id, token = await add_person(app, email=email)
    await sign_in(client, token)
    return person_id


def answer(
    question: int = 1, value: int = 2, at: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One answer as a client sends it, with a fresh UUID."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "question": question,
        "value": value,
        "answered_at": at or START.isoformat(),
    }
    body.update(extra)
    return body
