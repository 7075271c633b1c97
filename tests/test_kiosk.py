"""Kiosks: pairing codes, throttling, device tokens, the kiosk as a caller, heartbeats and the
admin page."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import kiosk
from tests.conftest import CSRF_INPUT, FakeClock, add_person, answer, db_of, sign_in
from tests.test_cli import ROOT, spiegel

Client = AsyncTestClient[Litestar]
PAIR = "/api/v1/kiosk/pair"
CODE_ON_PAGE = re.compile(r'id="pairing-code">([0-9A-Z]{4}-[0-9A-Z]{4})<')
CHECKIN, ENPS, CSAT = 1, 3, 4


def rows(app: Litestar, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_of(app).path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def team(app: Litestar, name: str) -> int:
    async with db_of(app).transaction() as tx:
        _, team_id = await tx.execute("INSERT INTO teams (name, created_at) VALUES (?, 0)", (name,))
    assert team_id is not None
    return team_id


async def new_kiosk(
    app: Litestar, team_id: int, mode: str = "staff", **form: Any
) -> tuple[int, str]:
    """A kiosk made as `spiegel kiosk add` makes it, and its first pairing code."""
    settings = {"name": "Winkelvloer", "team": str(team_id), "mode": mode, "pin": "2468"}
    settings.update(form)
    if mode == "customer":
        settings.setdefault("reasons", kiosk.default_reasons("customer"))
    return await kiosk.add_with_code(db_of(app), settings, app.state.rate_limiter.clock())


async def paired(app: Litestar, client: Client, team_id: int, mode: str = "staff") -> str:
    """A paired kiosk's device token."""
    _, code = await new_kiosk(app, team_id, mode)
    response = await client.post(PAIR, json={"code": code})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_answers(client: Client, token: str, *answers: dict[str, Any]) -> Any:
    return await client.post(
        "/api/v1/answers", json={"answers": list(answers)}, headers=bearer(token)
    )


async def admin(app: Litestar, client: Client) -> None:
    _, token = await add_person(app, email="nina@example.org", role="admin", team=None)
    await sign_in(client, token)


async def form_post(client: Client, page: str, url: str, data: dict[str, Any]) -> Any:
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    shown = await client.get(page)
    match = CSRF_INPUT.search(shown.text)
    assert match, f"{page} carries a CSRF field"
    return await client.post(url, data={**data, "_csrf_token": match.group(1)})


# --- codes -----------------------------------------------------------------------------


def test_pairing_codes_are_eight_characters_of_an_unambiguous_alphabet() -> None:
    assert len(kiosk.CODE_ALPHABET) == 32  # 8 characters: 40 bits
    assert not set("ILOU") & set(kiosk.CODE_ALPHABET)
    codes = {kiosk.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 8 and set(c) <= set(kiosk.CODE_ALPHABET) for c in codes)


def test_a_typed_code_forgives_case_dashes_and_look_alike_letters() -> None:
    assert kiosk.normal_code("ab0c-1dkm") == "AB0C1DKM"
    assert kiosk.normal_code(" abOc iDkm ") == "AB0C1DKM"
    assert kiosk.normal_code("abLc-1dkm") == "AB1C1DKM"
    assert kiosk.normal_code("ABCD-EFG") is None
    assert kiosk.normal_code("ABCD-EFGU") is None


async def test_a_code_pairs_once_and_gives_a_long_token_of_which_only_a_hash_is_kept(
    app: Litestar, client: Client
) -> None:
    kiosk_id, code = await new_kiosk(app, await team(app, "Winkel"))
    response = await client.post(PAIR, json={"code": kiosk.shown_code(code).lower()})
    assert response.status_code == 200, response.text
    body = response.json()
    token = body["token"]
    assert token.startswith("kiosk_") and len(token) >= 48
    assert body["kiosk"]["id"] == kiosk_id and body["kiosk"]["mode"] == "staff"
    assert body["kiosk"]["questions"] == [CHECKIN]
    stored = rows(app, "SELECT token_hash FROM kiosks WHERE id = ?", (kiosk_id,))[0][0]
    assert stored == kiosk.hash_token(token) and token not in str(stored)
    codes = rows(app, "SELECT code_hash FROM kiosk_pairing_codes")
    assert code not in str([tuple(r) for r in codes])

    again = await client.post(PAIR, json={"code": code})
    assert again.status_code == 400
    assert again.json()["reason"] == "used"
    assert "already been used" in again.json()["detail"]


async def test_a_wrong_code_is_refused_with_a_clear_message(app: Litestar, client: Client) -> None:
    await new_kiosk(app, await team(app, "Winkel"))
    for typed in ("ZZZZ-ZZZZ", "short", "!!!!!!!!"):
        response = await client.post(PAIR, json={"code": typed})
        assert response.status_code == 400
        assert response.json()["reason"] == "wrong"
        assert "not right" in response.json()["detail"]


async def test_a_code_expires_after_fifteen_minutes(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    _, code = await new_kiosk(app, await team(app, "Winkel"))
    clock.advance(15 * 60)
    response = await client.post(PAIR, json={"code": code})
    assert response.status_code == 400
    assert response.json()["reason"] == "expired"
    assert rows(app, "SELECT token_hash FROM kiosks")[0][0] is None


async def test_a_new_code_ends_the_kiosks_earlier_unused_code(
    app: Litestar, client: Client
) -> None:
    kiosk_id, first = await new_kiosk(app, await team(app, "Winkel"))
    second = await kiosk.new_pairing_code(db_of(app), kiosk_id, app.state.rate_limiter.clock())
    assert (await client.post(PAIR, json={"code": first})).json()["reason"] == "wrong"
    assert (await client.post(PAIR, json={"code": second})).status_code == 200


async def test_twenty_wrong_codes_from_one_address_throttle_it_for_fifteen_minutes(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    _, code = await new_kiosk(app, await team(app, "Winkel"))
    for _ in range(kiosk.PAIR_TRIES_PER_ADDRESS):
        assert (await client.post(PAIR, json={"code": "ZZZZZZZZ"})).status_code == 400
    throttled = await client.post(PAIR, json={"code": code})  # even the right one
    assert throttled.status_code == 429
    assert throttled.json()["reason"] == "throttled"
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    assert "Too many wrong codes" in throttled.json()["detail"]
    assert rows(app, "SELECT token_hash FROM kiosks")[0][0] is None
    clock.advance(10 * 60)
    kiosk_id = rows(app, "SELECT id FROM kiosks")[0][0]
    code = await kiosk.new_pairing_code(db_of(app), kiosk_id, clock())
    assert (await client.post(PAIR, json={"code": code})).status_code == 429
    clock.advance(5 * 60 + 1)
    assert (await client.post(PAIR, json={"code": code})).status_code == 200


async def test_wrong_codes_from_many_addresses_together_throttle_pairing(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    _, code = await new_kiosk(app, await team(app, "Winkel"))
    db = db_of(app)
    # Each address stays under its own limit; together they reach the limit of all.
    for n in range(kiosk.PAIR_TRIES_ALL):
        await kiosk._failed(db, f"10.0.{n // 10}.{n % 10}", clock())
    with_right_code = await client.post(PAIR, json={"code": code})
    assert with_right_code.status_code == 429
    clock.advance(kiosk.PAIR_WINDOW_SECONDS + 1)
    code = await kiosk.new_pairing_code(db, rows(app, "SELECT id FROM kiosks")[0][0], clock())
    assert (await client.post(PAIR, json={"code": code})).status_code == 200


# --- the kiosk as a caller -------------------------------------------------------------


async def test_a_staff_kiosk_answer_is_anonymous_on_the_kiosks_team(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    team_id = await team(app, "Winkel")
    token = await paired(app, client, team_id)
    one = answer(CHECKIN, 2, clock.iso(-60))
    response = await post_answers(client, token, one)
    assert response.json()["results"] == [{"id": one["id"], "status": "stored"}]
    (row,) = rows(app, "SELECT * FROM answers")
    kiosk_id = rows(app, "SELECT id FROM kiosks")[0][0]
    assert (row["team_id"], row["person_id"], row["kiosk_id"], row["source"]) == (
        team_id,
        None,
        kiosk_id,
        "kiosk",
    )


async def test_the_team_comes_from_the_kiosk_never_from_the_body(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    elsewhere = await team(app, "Magazijn")
    sent = answer(CHECKIN, 2, clock.iso(-60), team=elsewhere)
    (result,) = (await post_answers(client, token, sent)).json()["results"]
    assert result["status"] == "rejected"
    assert "set by your account or device" in result["reason"]
    assert rows(app, "SELECT * FROM answers") == []


async def test_a_kiosk_answers_only_its_own_questions(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    winkel = await team(app, "Winkel")
    staff = await paired(app, client, winkel)
    customer = await paired(app, client, winkel, mode="customer")
    at = clock.iso(-60)
    refused = [
        (staff, answer(ENPS, 9, at)),  # a staff question, but not the kiosk's kind
        (staff, answer(CSAT, 4, at)),
        (customer, answer(CHECKIN, 2, at)),
        (customer, answer(5, 9, at)),  # customer NPS: a customer kind, not on this kiosk
    ]
    for token, sent in refused:
        (result,) = (await post_answers(client, token, sent)).json()["results"]
        assert result["status"] == "rejected", sent
        assert "may not answer" in result["reason"]
    listed = await client.get("/api/v1/questions", headers=bearer(customer))
    assert [q["id"] for q in listed.json()["questions"]] == [CSAT]
    assert rows(app, "SELECT * FROM answers") == []


async def test_a_customer_kiosk_stores_the_chosen_reason_and_contact_reference(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await paired(app, client, await team(app, "Balie"), mode="customer")
    sent = answer(CSAT, 2, clock.iso(-5), reason="Waiting time", contact_ref="BON-17")
    assert (await post_answers(client, token, sent)).json()["results"][0]["status"] == "stored"
    (row,) = rows(app, "SELECT reason, contact_ref, person_id FROM answers")
    assert tuple(row) == ("Waiting time", "BON-17", None)


async def test_an_unknown_or_revoked_token_gets_401_and_nothing_is_stored(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    unknown = await post_answers(client, "kiosk_" + "x" * 43, answer(CHECKIN, 2, clock.iso()))
    assert unknown.status_code == 401
    kiosk_id = rows(app, "SELECT id FROM kiosks")[0][0]
    await kiosk.revoke(db_of(app), kiosk_id, clock())
    revoked = await post_answers(client, token, answer(CHECKIN, 2, clock.iso()))
    assert revoked.status_code == 401
    assert (await client.get("/api/v1/kiosk", headers=bearer(token))).status_code == 401
    assert rows(app, "SELECT * FROM answers") == []


async def test_paired_again_the_same_kiosk_keeps_its_id_and_held_answers_are_stored_under_it(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    """What the tablet keeps after a revocation is sent with the new token once the same
    kiosk record is paired again: stored under that kiosk, on its team, at the tap times."""
    team_id = await team(app, "Winkel")
    kiosk_id, code = await new_kiosk(app, team_id)
    old = (await client.post(PAIR, json={"code": code})).json()["token"]
    await kiosk.revoke(db_of(app), kiosk_id, clock())
    held = [answer(CHECKIN, v, clock.iso(-3600 * h)) for h, v in ((30, 1), (5, 2))]
    assert (await post_answers(client, old, *held)).status_code == 401

    code = await kiosk.new_pairing_code(db_of(app), kiosk_id, clock())
    new = await client.post(PAIR, json={"code": code})
    assert new.json()["kiosk"]["id"] == kiosk_id
    token = new.json()["token"]
    assert token != old
    assert (await post_answers(client, old, *held)).status_code == 401
    results = (await post_answers(client, token, *held)).json()["results"]
    assert [r["status"] for r in results] == ["stored", "stored"]
    stored = rows(app, "SELECT kiosk_id, team_id, answered_at FROM answers ORDER BY answered_at")
    assert [tuple(r) for r in stored] == [
        (kiosk_id, team_id, int(clock() - 30 * 3600)),
        (kiosk_id, team_id, int(clock() - 5 * 3600)),
    ]


async def test_answers_naming_another_kiosk_as_their_owner_are_refused_with_403(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    winkel = await team(app, "Winkel")
    token = await paired(app, client, winkel)
    other = await paired(app, client, winkel)
    other_id = rows(app, "SELECT MAX(id) FROM kiosks")[0][0]
    sent = answer(CHECKIN, 2, clock.iso(-60))

    def owned_by(kiosk_id: int, device: str) -> dict[str, str]:
        return {**bearer(device), "X-Spiegel-Owner": str(kiosk_id)}

    refused = await client.post(
        "/api/v1/answers", json={"answers": [sent]}, headers=owned_by(other_id, token)
    )
    assert refused.status_code == 403
    assert "another kiosk" in refused.json()["detail"]
    assert rows(app, "SELECT * FROM answers") == []

    stored = await client.post(
        "/api/v1/answers", json={"answers": [sent]}, headers=owned_by(other_id, other)
    )
    assert stored.json()["results"] == [{"id": sent["id"], "status": "stored"}]
    assert [tuple(r) for r in rows(app, "SELECT kiosk_id FROM answers")] == [(other_id,)]


async def test_a_kiosk_token_is_no_person_and_no_api_key(app: Litestar, client: Client) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code in (401, 403)
    assert (await client.get("/admin/kiosks", headers=bearer(token))).status_code == 403


# --- heartbeat and the admin page ----------------------------------------------------


async def test_a_heartbeat_records_queue_and_release_and_returns_the_settings(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    clock.advance(120)
    beat = await client.post(
        "/api/v1/kiosk/heartbeat", json={"queued": 7, "release": "abc123"}, headers=bearer(token)
    )
    assert beat.status_code == 200, beat.text
    assert beat.json()["name"] == "Winkelvloer" and beat.json()["pin"]["iterations"] > 0
    (row,) = rows(app, "SELECT last_seen_at, queued, app_release FROM kiosks")
    assert tuple(row) == (int(clock()), 7, "abc123")
    bad = await client.post("/api/v1/kiosk/heartbeat", json={"queued": -1}, headers=bearer(token))
    assert bad.status_code == 400
    anonymous = await client.post("/api/v1/kiosk/heartbeat", json={"queued": 1})
    assert anonymous.status_code == 401


async def test_the_pin_check_sent_to_the_tablet_verifies_the_admins_pin(
    app: Litestar, client: Client
) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    pin = (await client.get("/api/v1/kiosk", headers=bearer(token))).json()["pin"]
    assert kiosk.pin_hash("2468", pin["salt"], pin["iterations"]) == pin["hash"]
    assert kiosk.pin_hash("2469", pin["salt"], pin["iterations"]) != pin["hash"]


async def test_the_admin_pages_are_for_admins_only(app: Litestar, client: Client) -> None:
    kiosk_id, _ = await new_kiosk(app, await team(app, "Winkel"))
    pages = ["/admin/kiosks", f"/admin/kiosks/{kiosk_id}"]
    for page in pages:
        assert (await client.get(page)).status_code == 401
    for role in ("staff", "manager"):
        _, token = await add_person(app, email=f"{role}@example.org", role=role, team="Winkel")
        await sign_in(client, token)
        for page in pages:
            assert (await client.get(page)).status_code == 403, (role, page)
        refused = await client.post(f"/admin/kiosks/{kiosk_id}/revoke")
        assert refused.status_code == 403
    assert rows(app, "SELECT revoked_at FROM kiosks")[0][0] is None


async def test_an_admin_creates_a_kiosk_and_sees_its_code_and_qr(
    app: Litestar, client: Client
) -> None:
    team_id = await team(app, "Winkel")
    await admin(app, client)
    assert 'href="/admin/kiosks"' in (await client.get("/admin")).text
    data = {"name": "Kassa 1", "team": str(team_id), "mode": "customer", "faces": "4"}
    data.update(questions_customer=str(CSAT), reasons="Wachttijd\nPrijs\nNetheid\nVriendelijkheid")
    page = await form_post(client, "/admin/kiosks", "/admin/kiosks", {**data, "pin": "1357"})
    assert page.status_code == 200, page.text
    code = CODE_ON_PAGE.search(page.text)
    assert code is not None
    assert f"/kiosk/pair?code={code.group(1).replace('-', '')}" in page.text
    assert "<svg" in page.text and page.headers["cache-control"] == "no-store"
    paired_now = await client.post(PAIR, json={"code": code.group(1)})
    assert paired_now.json()["kiosk"]["reasons"] == [
        "Wachttijd",
        "Prijs",
        "Netheid",
        "Vriendelijkheid",
    ]


async def test_a_bad_kiosk_form_shows_each_error_beside_its_field_and_stores_nothing(
    app: Litestar, client: Client
) -> None:
    await team(app, "Winkel")
    await admin(app, client)
    data = {
        "name": "",
        "team": "999",
        "mode": "customer",
        "faces": "5",
        "questions_customer": str(CSAT),
    }
    page = await form_post(client, "/admin/kiosks", "/admin/kiosks", {**data, "reasons": "x"})
    assert page.status_code == 400
    for field in ("name", "team", "faces", "reasons", "pin"):
        assert f'id="{field}-error"' in page.text, field
    assert "cannot be shown with 5 faces" in page.text or "kan niet met 5" in page.text
    assert rows(app, "SELECT * FROM kiosks") == []


async def test_the_list_shows_last_seen_answers_today_queue_and_release(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    await post_answers(client, token, answer(CHECKIN, 2, clock.iso(-60)))
    await post_answers(client, token, answer(CHECKIN, 1, clock.iso(-2 * 86400)))
    await client.post(
        "/api/v1/kiosk/heartbeat", json={"queued": 3, "release": "r42"}, headers=bearer(token)
    )
    await admin(app, client)
    page = (await client.get("/admin/kiosks")).text
    row = re.search(r'<tr data-kiosk="\d+">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    ]
    assert cells[0] == "Winkelvloer" and cells[1] == "Winkel"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[4])  # last seen
    assert cells[5:] == ["1", "3", "r42"]


async def test_an_admin_renames_moves_and_revokes_a_kiosk(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    token = await paired(app, client, await team(app, "Winkel"))
    magazijn = await team(app, "Magazijn")
    kiosk_id = rows(app, "SELECT id FROM kiosks")[0][0]
    await admin(app, client)
    page = f"/admin/kiosks/{kiosk_id}"
    moved = await form_post(client, page, page, {"name": "Magazijn wand", "team": str(magazijn)})
    assert moved.status_code == 200 and moved.url.path == "/admin/kiosks"
    assert tuple(rows(app, "SELECT name, team_id FROM kiosks")[0]) == ("Magazijn wand", magazijn)
    sent = answer(CHECKIN, 2, clock.iso(-60))
    await post_answers(client, token, sent)
    assert rows(app, "SELECT team_id FROM answers")[0][0] == magazijn

    blank = await form_post(client, page, page, {"name": " ", "team": str(magazijn)})
    assert blank.status_code == 400 and 'id="name-error"' in blank.text

    revoked = await form_post(client, page, f"{page}/revoke", {})
    assert revoked.status_code == 200
    assert (await post_answers(client, token, answer(CHECKIN, 2, clock.iso()))).status_code == 401


def test_spiegel_kiosk_add_prints_a_code_that_pairs(tmp_path: Any) -> None:
    db_path = str(tmp_path / "cli.db")
    assert spiegel(db_path, "team", "add", "--name", "Winkel").returncode == 0
    done = spiegel(db_path, "kiosk", "add", "--name", "Vloer", "--team", "Winkel", "--pin", "1234")
    assert done.returncode == 0, done.stderr
    code = re.search(r"/kiosk/pair\?code=([0-9A-Z]{8})", done.stdout)
    assert code is not None and ROOT.exists()
    bad = spiegel(db_path, "kiosk", "add", "--name", "X", "--team", "Winkel", "--pin", "12")
    assert bad.returncode == 2 and "PIN" in bad.stderr
    again = spiegel(db_path, "kiosk", "code", "--name", "Vloer")
    assert again.returncode == 0 and "/kiosk/pair?code=" in again.stdout
