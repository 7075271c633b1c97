"""GET /healthz: 200 when the database answers and its schema is current, else 503."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import db, health
from tests.conftest import db_of

Client = AsyncTestClient[Litestar]


async def test_health_is_ok_with_counts_of_applied_and_available_migrations(
    client: Client,
) -> None:
    response = await client.get("/healthz")
    probe = await client.head("/healthz")

    assert response.status_code == 200
    assert probe.status_code == 200 and probe.content == b""
    count = len(db.available_migrations())
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "migrations_applied": count,
        "migrations_available": count,
    }


async def test_health_is_503_when_a_migration_is_missing(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code knows a migration the database has not had (e.g. a second process lags)."""
    newer = [*db.available_migrations(), db.Migration(9999, "9999_next.sql", "SELECT 1;")]
    monkeypatch.setattr(health, "available_migrations", lambda: newer)

    response = await client.get("/healthz")

    assert response.status_code == 503
    assert (await client.head("/healthz")).status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["migrations_applied"] == len(newer) - 1
    assert body["migrations_available"] == len(newer)


async def test_health_is_503_when_the_migration_record_is_gone(
    app: Litestar, client: Client
) -> None:
    async with db_of(app).transaction() as tx:
        await tx.execute("DELETE FROM schema_migrations")

    response = await client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["migrations_applied"] == 0


async def test_health_is_503_when_the_database_is_unreachable(
    app: Litestar, client: Client
) -> None:
    await db_of(app).close()

    response = await client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_health_needs_no_sign_in_and_is_not_rate_limited(
    client: Client, app: Litestar
) -> None:
    """A load balancer polls it from one address."""
    limit = app.state.settings.rate_limit_per_minute

    statuses = {(await client.get("/healthz")).status_code for _ in range(limit + 5)}

    assert statuses == {200}
