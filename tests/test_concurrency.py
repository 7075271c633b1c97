"""A concurrent burst of answer posts from many clients stores every answer exactly once.

The clients are httpx clients on one ASGI transport each, all in the test's event loop, so
their requests really interleave inside the app. (Litestar's AsyncTestClient runs each
request to completion through a blocking portal, so a gather over several of them would
send one request at a time and prove nothing about concurrency; a second AsyncTestClient on
the same app would also run the lifespan again and close the app's database.)
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.types import Receive, Scope, Send

from server import config
from tests.conftest import CSRF_INPUT, add_person, answer

PEOPLE = 8
POSTS = 200
RESENDS = 60


class InFlight:
    """Wraps the app and records how many requests were inside it at once."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.now = 0
        self.peak = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


async def signed_in_client(app: Litestar, meter: InFlight, index: int) -> httpx.AsyncClient:
    """A browser of its own (own address, own cookies) that followed its invite link."""
    transport = httpx.ASGITransport(app=meter, client=(f"10.0.0.{index + 1}", 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver.local")
    _, token = await add_person(app, email=f"person{index}@example.org", name=f"P{index}")
    page = await client.get(f"/signin/{token}")
    match = CSRF_INPUT.search(page.text)
    assert match, page.text
    response = await client.post(f"/signin/{token}", data={"_csrf_token": match.group(1)})
    assert response.status_code == 303, response.text
    return client


@asynccontextmanager
async def browsers_on(app: Litestar) -> AsyncIterator[tuple[InFlight, list[httpx.AsyncClient]]]:
    """The app's lifespan and signed-in clients (entered in the test's own task: the lifespan
    holds an anyio task group, which a fixture would enter and leave in different tasks)."""
    meter = InFlight(app)
    async with app.lifespan():
        made = [await signed_in_client(app, meter, i) for i in range(PEOPLE)]
        try:
            yield meter, made
        finally:
            for client in made:
                await client.aclose()


def stored_rows(settings: config.Settings) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(settings.database)
    try:
        return conn.execute("SELECT id, person_id, value FROM answers").fetchall()
    finally:
        conn.close()


async def test_concurrent_burst_stores_every_answer_exactly_once(
    app: Litestar, settings: config.Settings
) -> None:
    async with browsers_on(app) as (meter, browsers):
        posts, sent, extra = _burst(random.Random(7))
        responses = await asyncio.gather(*(_send(browsers[who], batch) for who, batch in posts))

    assert meter.peak > 1, "requests overlapped inside the app"
    statuses: dict[str, Counter[str]] = {}
    for (_, batch), results in zip(posts, responses, strict=True):
        assert [r["id"] for r in results] == [a["id"] for a in batch]
        for result in results:
            statuses.setdefault(result["id"], Counter())[result["status"]] += 1
    expected = {body["id"]: body for _, body in [*sent, *extra]}
    assert all(counts["stored"] == 1 for counts in statuses.values())
    assert sum(counts["duplicate"] for counts in statuses.values()) == RESENDS
    assert not any(counts["rejected"] for counts in statuses.values())

    rows = stored_rows(settings)
    assert len(rows) == len(expected) == POSTS + RESENDS // 2
    assert {row[0] for row in rows} == set(expected)
    person_of = {body["id"]: who + 1 for who, body in [*sent, *extra]}
    assert all(person_of[id_] == person and expected[id_]["value"] == value
               for id_, person, value in rows)  # fmt: skip


Batch = list[dict[str, Any]]
Sent = list[tuple[int, dict[str, Any]]]


def _burst(rng: random.Random) -> tuple[list[tuple[int, Batch]], Sent, Sent]:
    """POSTS single-answer posts spread over the people, plus RESENDS re-sends of them."""
    sent: Sent = [(i % PEOPLE, answer(1, rng.choice([1, 2]))) for i in range(POSTS)]
    # Re-sends: an outbox replaying answers whose first response it never saw, racing the
    # original post; half alone, half beside a new answer in one batch.
    posts: list[tuple[int, Batch]] = [(who, [body]) for who, body in sent]
    extra: Sent = []
    for n, (who, body) in enumerate(rng.choice(sent) for _ in range(RESENDS)):
        if n % 2:
            posts.append((who, [dict(body)]))
        else:
            fresh = answer(2, 1)
            extra.append((who, fresh))
            posts.append((who, [dict(body), fresh]))
    rng.shuffle(posts)
    return posts, sent, extra


async def _send(browser: httpx.AsyncClient, batch: Batch) -> Batch:
    response = await browser.post("/api/v1/answers", json={"answers": batch})
    assert response.status_code == 200, response.text
    results: Batch = response.json()["results"]
    return results


async def test_same_id_raced_by_two_people_is_stored_once_and_refused_once(
    app: Litestar, settings: config.Settings
) -> None:
    body = answer(1, 2)
    async with browsers_on(app) as (_, browsers):
        first, second = await asyncio.gather(
            *(b.post("/api/v1/answers", json={"answers": [body]}) for b in browsers[:2])
        )

    outcomes = sorted(r.json()["results"][0]["status"] for r in (first, second))
    assert outcomes == ["rejected", "stored"]
    assert len(stored_rows(settings)) == 1
