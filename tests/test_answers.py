"""POST /api/v1/answers: exactly-once storage, checks per answer, refusal of bad requests."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import auth, config
from server.answers import NewAnswer
from server.app import create_app
from tests.conftest import START, FakeClock, add_person, answer, db_of, sign_in, signed_in_staff

URL = "/api/v1/answers"
Client = AsyncTestClient[Litestar]


async def post(client: Client, *answers: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """Post a batch, expect a 200, return its results."""
    response = await client.post(URL, json={"answers": list(answers)}, **kwargs)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def rows(settings: config.Settings, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list:
    """Stored answers read straight from the file, by a connection of the test's own."""
    conn = sqlite3.connect(settings.database)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM answers WHERE {where} ORDER BY id", params).fetchall()
    finally:
        conn.close()


def count(settings: config.Settings) -> int:
    return len(rows(settings))


async def api_key(app: Litestar, team: str | None = "Balie") -> tuple[str, int | None]:
    """A new API key (and its team, created if needed); returns the key and the team id."""
    db = db_of(app)
    team_id = None
    if team is not None:
        async with db.transaction() as tx:
            _, team_id = await tx.execute(
                "INSERT INTO teams (name, created_at) VALUES (?, 0)", (team,)
            )
    key = await auth.create_api_key(db, "kassa", team_id, app.state.rate_limiter.clock())
    return key, team_id


async def switch_person(app: Litestar, client: Client, email: str) -> None:
    """Sign in as a new person on the same client (a second lifespan would close the app's db)."""
    client.cookies.clear()
    await signed_in_staff(app, client, email=email)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- exactly once ------------------------------------------------------------------------


async def test_answer_is_stored_with_its_person_team_and_source(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id = await signed_in_staff(app, client)
    sent = answer(1, 2, comment="  fijne dag  ")

    assert await post(client, sent) == [{"id": sent["id"], "status": "stored"}]

    [row] = rows(settings)
    assert row["id"] == sent["id"]
    assert (row["question_id"], row["value"], row["person_id"]) == (1, 2, person_id)
    assert row["answered_at"] == int(START.timestamp())
    assert row["source"] == "app"
    assert row["comment"] == "fijne dag"
    assert row["team_id"] == await db_of(app).fetch_value(
        "SELECT team_id FROM people WHERE id = ?", (person_id,)
    )


async def test_duplicate_answer_in_one_batch_is_stored_once(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    sent = answer()

    results = await post(client, sent, dict(sent))

    assert [r["status"] for r in results] == ["stored", "duplicate"]
    assert count(settings) == 1


async def test_duplicate_answer_across_batches_is_stored_once(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    sent = answer()
    await post(client, sent)

    assert await post(client, sent) == [{"id": sent["id"], "status": "duplicate"}]
    assert count(settings) == 1


async def test_duplicate_is_recognised_after_the_question_was_retired(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    """A device that never saw the first 2xx re-sends; it must hear 'duplicate', not an error."""
    await signed_in_staff(app, client)
    sent = answer(1, 1, at=clock.iso())
    await post(client, sent)
    await _deactivate(app, 1)
    clock.advance((settings.answer_horizon_days + 1) * 86400)

    assert await post(client, sent) == [{"id": sent["id"], "status": "duplicate"}]
    assert count(settings) == 1


async def test_resend_after_moving_to_another_team_is_a_duplicate_and_keeps_the_old_team(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    person_id = await signed_in_staff(app, client)
    sent = answer()
    await post(client, sent)
    [before] = rows(settings)
    async with db_of(app).transaction() as tx:
        _, new_team = await tx.execute("INSERT INTO teams (name, created_at) VALUES ('Winkel', 0)")
        await tx.execute("UPDATE people SET team_id = ? WHERE id = ?", (new_team, person_id))

    assert await post(client, sent) == [{"id": sent["id"], "status": "duplicate"}]
    assert [tuple(r) for r in rows(settings)] == [tuple(before)]


async def test_conflicting_duplicate_is_refused_and_the_stored_answer_is_unchanged(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    first = answer(1, 2)
    await post(client, first)
    before = [tuple(r) for r in rows(settings)]

    [result] = await post(client, {**first, "value": 1})

    assert result["status"] == "rejected"
    assert "conflict" in result["reason"]
    assert [tuple(r) for r in rows(settings)] == before


async def test_conflicting_duplicate_in_one_batch_keeps_the_first(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    first = answer(1, 2)

    results = await post(client, first, {**first, "comment": "something else"})

    assert [r["status"] for r in results] == ["stored", "rejected"]
    assert "conflict" in results[1]["reason"]
    [row] = rows(settings)
    assert (row["value"], row["comment"]) == (2, None)


async def test_same_id_from_another_person_is_a_conflict_not_a_duplicate(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    sent = answer()
    await post(client, sent)
    await switch_person(app, client, "bob@example.org")

    [result] = await post(client, sent)

    assert result["status"] == "rejected"
    assert [r["person_id"] for r in rows(settings)] == [1]


async def test_answer_is_readable_right_after_its_response(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    sent = answer(3, 9, at=clock.iso(-60))

    await post(client, sent)
    mine = (await client.get("/api/v1/me/answers")).json()["answers"]

    assert [(a["id"], a["question"], a["kind"], a["value"]) for a in mine] == [
        (sent["id"], 3, "enps", 9)
    ]
    assert len(rows(settings, "id = ?", (sent["id"],))) == 1


# --- one result per answer, in order; a mixed batch --------------------------------------


async def test_results_come_one_per_answer_in_the_order_sent(app: Litestar, client: Client) -> None:
    await signed_in_staff(app, client)
    sent = [answer(1, 2), answer(99), answer(2, 1), answer(1, 7), answer(3, 10)]

    results = await post(client, *sent)

    assert [r["id"] for r in results] == [a["id"] for a in sent]
    assert [r["status"] for r in results] == [
        "stored",
        "rejected",
        "stored",
        "rejected",
        "stored",
    ]


async def test_mixed_batch_stores_only_the_good_answers_and_says_why_for_each_bad_one(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    good = [answer(1, 1), answer(2, 2, contact_ref="order-17"), answer(3, 0)]
    skew = settings.clock_skew_seconds
    horizon = settings.answer_horizon_days * 86400
    bad = {
        "unknown question": answer(999, 1),
        "not active": answer(6, 3),
        "between 1 and 2": answer(1, 3),
        "between 0 and 10": answer(3, 11),
        "future": answer(1, 1, at=clock.iso(skew + 60)),
        "older than": answer(1, 1, at=clock.iso(-horizon - 60)),
        "contact_ref": answer(1, 1, contact_ref="order-18"),
        "kind customer_csat": answer(4, 3),
    }

    results = await post(client, good[0], *bad.values(), *good[1:])

    by_id = {r["id"]: r for r in results}
    assert all(by_id[a["id"]] == {"id": a["id"], "status": "stored"} for a in good)
    for reason, sent in bad.items():
        assert by_id[sent["id"]]["status"] == "rejected"
        assert reason in by_id[sent["id"]]["reason"]
    assert sorted(r["id"] for r in rows(settings)) == sorted(a["id"] for a in good)


async def test_answer_within_the_clock_skew_and_the_horizon_is_stored(
    app: Litestar, client: Client, settings: config.Settings, clock: FakeClock
) -> None:
    await signed_in_staff(app, client)
    horizon = settings.answer_horizon_days * 86400
    edges = [
        answer(at=clock.iso(settings.clock_skew_seconds - 1)),
        answer(at=clock.iso(-horizon + 60)),
    ]

    results = await post(client, *edges)

    assert [r["status"] for r in results] == ["stored", "stored"]
    assert count(settings) == 2


async def test_answered_at_in_another_offset_is_stored_as_the_same_instant(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    local = START.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+01:00").tzinfo)
    sent = answer(at=local.isoformat())

    await post(client, sent)

    assert rows(settings)[0]["answered_at"] == int(START.timestamp())


async def test_staff_may_not_send_a_team_of_their_own_choosing(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    [result] = await post(client, answer(team=1))

    assert result["status"] == "rejected"
    assert "team" in result["reason"]
    assert count(settings) == 0


# --- bad requests: a 4xx with a message, nothing stored ---------------------------------


def _bad_bodies() -> dict[str, tuple[str | bytes, str]]:
    """(body, what the message mentions) per kind of malformed request."""
    ok = answer()

    def batch(*answers: Any) -> str:
        return json.dumps({"answers": list(answers)})

    return {
        "truncated json": ('{"answers": [', "truncated"),
        "malformed json": ('{"answers": [}', "json"),
        "not an object": ("[1, 2, 3]", "object"),
        "value as a word": (batch({**ok, "value": "two"}), "value"),
        "value as a boolean": (batch({**ok, "value": True}), "value"),
        "value as a numeric string": (batch({**ok, "value": "2"}), "value"),
        "question as a numeric string": (batch({**ok, "question": "1"}), "question"),
        "answers as an object": (json.dumps({"answers": ok}), "answers"),
        "question as a float": (batch({**ok, "question": 1.5}), "question"),
        "unknown field": (batch({**ok, "mood": "great"}), "mood"),
        "unknown top-level field": (json.dumps({"answers": [ok], "x": 1}), "x"),
        "missing value": (batch({k: v for k, v in ok.items() if k != "value"}), "value"),
        "missing answers": ("{}", "answers"),
        "empty batch": (batch(), "answers"),
        "501 answers": (batch(*(answer() for _ in range(501))), "answers"),
        "naive datetime": (batch({**ok, "answered_at": "2026-11-23T12:00:00"}), "answered_at"),
        "not a datetime": (batch({**ok, "answered_at": "yesterday"}), "answered_at"),
        "non-uuid id": (batch({**ok, "id": "answer-1"}), "id"),
        "too-long comment": (batch({**ok, "comment": "x" * 1001}), "comment"),
        "too-long contact_ref": (batch({**ok, "contact_ref": "x" * 101}), "contact_ref"),
        "not utf-8": (b'{"answers": "\xff"}', "utf-8"),
    }


@pytest.mark.parametrize("kind", list(_bad_bodies()))
async def test_bad_request_gets_a_4xx_with_a_message_and_changes_nothing(
    app: Litestar, client: Client, settings: config.Settings, kind: str
) -> None:
    await signed_in_staff(app, client)
    body, mention = _bad_bodies()[kind]

    response = await client.post(URL, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    message = json.dumps(response.json()).lower()
    assert mention.lower() in message
    assert count(settings) == 0


async def test_body_over_the_size_limit_gets_413_and_changes_nothing(
    db_path: str, clock: FakeClock
) -> None:
    settings = config.load({}, database=db_path, max_body_bytes=2048)
    app = create_app(settings, clock)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        await signed_in_staff(app, client)
        body = {"answers": [answer(comment="x" * 900) for _ in range(3)]}
        assert len(json.dumps(body)) > 2048

        response = await client.post(URL, json=body)

    assert response.status_code == 413
    assert response.json()["detail"]
    assert count(settings) == 0


async def test_batch_of_500_answers_is_accepted(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    results = await post(client, *(answer() for _ in range(500)))

    assert {r["status"] for r in results} == {"stored"}
    assert count(settings) == 500


# --- who may answer what -----------------------------------------------------------------


async def test_unauthenticated_post_gets_401_and_changes_nothing(
    client: Client, settings: config.Settings
) -> None:
    response = await client.post(URL, json={"answers": [answer()]})

    assert response.status_code == 401
    assert response.json()["detail"]
    assert count(settings) == 0


async def test_unknown_api_key_gets_401(client: Client, settings: config.Settings) -> None:
    response = await client.post(
        URL, json={"answers": [answer(4, 3)]}, headers=bearer("spk_not-a-key")
    )

    assert response.status_code == 401
    assert count(settings) == 0


async def test_staff_cannot_answer_a_customer_question(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    [result] = await post(client, answer(4, 3))

    assert result["status"] == "rejected"
    assert "customer_csat" in result["reason"]
    assert count(settings) == 0


async def test_api_key_answers_a_customer_question_for_its_default_team(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    key, team_id = await api_key(app)
    sent = answer(4, 4, contact_ref="order-9")

    assert await post(client, sent, headers=bearer(key)) == [{"id": sent["id"], "status": "stored"}]

    [row] = rows(settings)
    assert (row["team_id"], row["person_id"], row["source"]) == (team_id, None, "api")
    assert row["api_key_id"] is not None
    assert row["contact_ref"] == "order-9"


async def test_customer_answer_keeps_its_reason_and_a_staff_answer_may_not_have_one(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    key, _ = await api_key(app)
    customer = answer(4, 2, reason="wachttijd")

    assert await post(client, customer, headers=bearer(key)) == [
        {"id": customer["id"], "status": "stored"}
    ]
    assert [r["reason"] for r in rows(settings)] == ["wachttijd"]

    client.headers.pop("Authorization", None)
    await signed_in_staff(app, client)
    [result] = await post(client, answer(1, 2, reason="wachttijd"))
    assert result["status"] == "rejected"
    assert "reason" in result["reason"]
    assert count(settings) == 1


def test_fingerprint_of_an_answer_without_channel_fields_is_unchanged_by_them() -> None:
    """Answers stored before kiosk_id, link_id and reason existed must keep their hash, or a
    late re-send of one would be refused as a conflict."""
    new = NewAnswer(
        id="x", question_id=4, value=3, answered_at=100, source="api", team_id=7, api_key_id=2
    )
    before = msgspec.json.encode([4, 3, 100, "api", None, 7, 2, None, None])

    assert new.fingerprint() == hashlib.sha256(before).hexdigest()
    assert msgspec.structs.replace(new, reason="r").fingerprint() != new.fingerprint()


async def test_api_key_cannot_answer_a_checkin(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    key, _ = await api_key(app)

    [result] = await post(client, answer(1, 2), headers=bearer(key))

    assert result["status"] == "rejected"
    assert "checkin" in result["reason"]
    assert count(settings) == 0


async def test_api_key_without_a_team_needs_the_answer_to_name_one(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    key, _ = await api_key(app, team=None)
    _, team_id = await api_key(app, team="Winkel")
    without, with_team = answer(4, 3), answer(5, 8, team=team_id)

    results = await post(client, without, with_team, headers=bearer(key))

    assert results[0]["status"] == "rejected"
    assert "team" in results[0]["reason"]
    assert results[1] == {"id": with_team["id"], "status": "stored"}
    assert [r["team_id"] for r in rows(settings)] == [team_id]


async def test_api_key_bound_to_a_team_cannot_file_answers_under_another_team(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    key, own_team = await api_key(app, team="Balie")
    _, other_team = await api_key(app, team="Winkel")
    elsewhere, own = answer(4, 3, team=other_team), answer(4, 4, team=own_team)

    results = await post(client, elsewhere, own, headers=bearer(key))

    assert results[0]["status"] == "rejected"
    assert f"team {other_team}" in results[0]["reason"]
    assert results[1] == {"id": own["id"], "status": "stored"}
    assert [r["team_id"] for r in rows(settings)] == [own_team]


async def test_person_in_no_team_is_told_so_and_nothing_is_stored(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    _, token = await add_person(app, email="mira@example.org", role="manager", team=None)
    await sign_in(client, token)

    [result] = await post(client, answer(1, 2))

    assert result["status"] == "rejected"
    assert result["reason"] == "you are not in a team"
    assert count(settings) == 0


@pytest.mark.parametrize("team", [4242, 2**63, -1])
async def test_api_key_answer_for_an_unknown_team_is_rejected(
    app: Litestar, client: Client, settings: config.Settings, team: int
) -> None:
    key, _ = await api_key(app)

    response = await client.post(
        URL, json={"answers": [answer(4, 3, team=team)]}, headers=bearer(key)
    )

    assert response.status_code in {200, 400}, response.text
    if response.status_code == 200:
        [result] = response.json()["results"]
        assert result["status"] == "rejected"
        assert "team" in result["reason"]
    assert count(settings) == 0


async def test_revoked_api_key_gets_401(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    key, _ = await api_key(app)
    async with db_of(app).transaction() as tx:
        await tx.execute("UPDATE api_keys SET revoked_at = 1")

    response = await client.post(URL, json={"answers": [answer(4, 3)]}, headers=bearer(key))

    assert response.status_code == 401
    assert count(settings) == 0


# --- cross-site protection of cookie-authenticated posts -------------------------------


async def test_cookie_post_from_a_foreign_origin_is_refused_and_stores_nothing(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    response = await client.post(
        URL, json={"answers": [answer()]}, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert "cross-site" in response.json()["detail"].lower()
    assert count(settings) == 0


async def test_cookie_post_from_its_own_origin_is_stored(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)

    await post(client, answer(), headers={"Origin": "http://testserver.local"})

    assert count(settings) == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_cookie_post_with_a_non_json_content_type_is_refused_and_stores_nothing(
    app: Litestar, client: Client, settings: config.Settings, content_type: str
) -> None:
    await signed_in_staff(app, client)

    response = await client.post(
        URL,
        content=json.dumps({"answers": [answer()]}),
        headers={"Content-Type": content_type},
    )

    assert response.status_code == 403
    assert "application/json" in response.json()["detail"]
    assert count(settings) == 0


# --- GET /api/v1/me/answers -------------------------------------------------------------


async def test_own_answers_show_only_the_callers_answers_newest_first(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    await signed_in_staff(app, client, email="bob@example.org")
    await post(client, answer())
    await switch_person(app, client, "anna@example.org")
    older, newer = answer(at=clock.iso(-7200)), answer(at=clock.iso(-60))
    await post(client, older, newer)

    mine = (await client.get("/api/v1/me/answers")).json()["answers"]

    assert [a["id"] for a in mine] == [newer["id"], older["id"]]
    assert datetime.fromisoformat(mine[1]["answered_at"]) == START - timedelta(hours=2)


async def test_own_answers_need_a_person(app: Litestar, client: Client) -> None:
    key, _ = await api_key(app)

    assert (await client.get("/api/v1/me/answers", headers=bearer(key))).status_code == 403
    assert (await client.get("/api/v1/me/answers")).status_code == 401


async def _deactivate(app: Litestar, question_id: int) -> None:
    async with db_of(app).transaction() as tx:
        await tx.execute("UPDATE questions SET active = 0 WHERE id = ?", (question_id,))
    await app.state.questions.reload(db_of(app))


async def test_answer_to_a_question_retired_while_offline_is_rejected(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await signed_in_staff(app, client)
    await _deactivate(app, 1)

    [result] = await post(client, answer(1, 2))

    assert result["status"] == "rejected"
    assert "not active" in result["reason"]
    assert count(settings) == 0
