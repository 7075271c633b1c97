"""Every route of the app, asked by every kind of caller: each gets the status its guard promises.

The expectations are data (EXPECTED below). A route the app serves that is not listed there
fails the walk, so a new route cannot ship without someone deciding who may call it.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from server import auth, config, people
from server.app import create_app
from tests.conftest import FakeClock, db_of

ROLES = ("anonymous", "staff", "other_manager", "manager", "admin", "apikey")
OK = "ok"  # allowed through the guards: any status but 401 and 403, and no server error
REFUSED = "refused"  # 401 or 403 (kiosk routes: none of these callers is a kiosk)

# What each kind of route promises, per caller: a status, OK or REFUSED.
RULES: dict[str, dict[str, Any]] = {
    "open": dict.fromkeys(ROLES, OK),
    "signed_in": {**dict.fromkeys(ROLES, OK), "anonymous": 401},
    "person": {**dict.fromkeys(ROLES, OK), "anonymous": 401, "apikey": 403},
    "reports": {**dict.fromkeys(ROLES, OK), "anonymous": 401, "staff": 403, "apikey": 403},
    "team": {
        "anonymous": 401,
        "staff": 403,
        "other_manager": 403,
        "manager": OK,
        "admin": OK,
        "apikey": 403,
    },
    "manager": {
        "anonymous": 401,
        "staff": 403,
        "other_manager": OK,
        "manager": OK,
        "admin": OK,
        "apikey": 403,
    },
    "admin": {**dict.fromkeys(ROLES, 403), "anonymous": 401, "admin": OK},
    "kiosk": dict.fromkeys(ROLES, REFUSED),
}

EXPECTED: dict[str, str] = {
    "GET /healthz": "open",
    "GET /": "open",
    "GET /home": "person",
    "GET /signin/{token:str}": "open",
    "POST /signin/{token:str}": "open",
    "POST /signout": "open",
    "POST /api/v1/session/signout": "open",
    "GET /setup/{token:str}": "open",
    "POST /setup/{token:str}": "open",
    "GET /api/v1/me": "person",
    "PATCH /api/v1/me": "person",
    "GET /api/v1/me/answers": "person",
    "GET /api/v1/questions": "signed_in",
    "POST /api/v1/answers": "signed_in",
    "GET /app": "open",
    "GET /app/sw.js": "open",
    "GET /app/i18n/{filename:str}": "open",
    "GET /app/{name:path}": "open",
    "GET /kiosk": "open",
    "GET /kiosk/sw.js": "open",
    "GET /kiosk/i18n/{filename:str}": "open",
    "GET /kiosk/{name:path}": "open",
    "GET /manager/sw.js": "open",
    "GET /manager/manifest.webmanifest": "open",
    "GET /api/v1/push/key": "person",
    "POST /api/v1/push/subscriptions": "person",
    "DELETE /api/v1/push/subscriptions": "person",
    "GET /api/v1/me/reminders": "person",
    "PATCH /api/v1/me/reminders": "person",
    "GET /api/v1/push/stats": "admin",
    "GET /api/v1/teams/{team_id:int}/summary": "team",
    "GET /api/v1/reports/export.csv": "reports",
    "POST /api/v1/teams/{team_id:int}/actions": "team",
    "GET /manager": "manager",
    "GET /manager/compare": "manager",
    "GET /manager/teams/{team_id:int}": "team",
    "POST /manager/teams/{team_id:int}/actions": "team",
    "GET /admin": "admin",
    "GET /admin/organisation": "admin",
    "POST /admin/organisation": "admin",
    "GET /admin/teams": "admin",
    "POST /admin/teams": "admin",
    "POST /admin/teams/{team_id:int}": "admin",
    "GET /admin/people": "admin",
    "POST /admin/people": "admin",
    "GET /admin/people/import": "admin",
    "POST /admin/people/import": "admin",
    "GET /admin/people/{person_id:int}": "admin",
    "POST /admin/people/{person_id:int}": "admin",
    "POST /admin/people/{person_id:int}/signout": "admin",
    "POST /admin/people/{person_id:int}/active": "admin",
    "GET /admin/people/{person_id:int}/export.json": "admin",
    "POST /admin/people/{person_id:int}/delete": "admin",
    "POST /admin/invites": "admin",
    "GET /admin/questions": "admin",
    "POST /admin/questions/{question_id:int}": "admin",
    "POST /admin/mirror": "admin",
    "GET /admin/privacy": "admin",
    # Other rooms' routes, listed as they were when this test was written.
    "POST /api/v1/kiosk/pair": "open",
    "GET /api/v1/kiosk": "kiosk",
    "POST /api/v1/kiosk/heartbeat": "kiosk",
    "POST /api/v1/kiosk/unpair": "kiosk",
    "GET /admin/kiosks": "admin",
    "POST /admin/kiosks": "admin",
    "GET /admin/kiosks/{kiosk_id:int}": "admin",
    "POST /admin/kiosks/{kiosk_id:int}": "admin",
    "POST /admin/kiosks/{kiosk_id:int}/code": "admin",
    "POST /admin/kiosks/{kiosk_id:int}/revoke": "admin",
    "GET /c/s/{name:str}": "open",
    "GET /c/{token:str}": "open",
    "GET /admin/links": "admin",
    "POST /admin/links": "admin",
    "POST /admin/links/{link_id:int}/disable": "admin",
    "GET /admin/links/{link_id:int}/qr.svg": "admin",
    "GET /admin/links/{link_id:int}/qr.png": "admin",
    "GET /admin/links/{link_id:int}/print": "admin",
    "GET /admin/import": "admin",
    "POST /admin/import": "admin",
    "GET /admin/apikeys": "admin",
    "POST /admin/apikeys": "admin",
    "POST /admin/apikeys/{key_id:int}/revoke": "admin",
    "GET /schema": "open",
    "GET /schema/openapi.json": "open",
    "GET /schema/{path:str}": "open",
}

# A body that passes validation, where the route checks its body before the caller's team.
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/teams/{team_id:int}/actions": {"what": "Team talk", "on": "2026-11-20"},
}
PARAM = re.compile(r"\{(\w+):\w+\}")
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def served_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path template) of every HTTP route the app serves."""
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            found += [(m, route.path) for m in route.route_handler_map if m not in SKIPPED_METHODS]
    return sorted(found)


def test_every_served_route_has_an_expected_guard_and_every_listed_route_is_served(
    tmp_path: Any,
) -> None:
    app = create_app(config.load({}, database=str(tmp_path / "r.db")))
    served = {f"{method} {path}" for method, path in served_routes(app)}

    assert served - set(EXPECTED) == set(), "routes without an expected guard: list them here"
    assert set(EXPECTED) - served == set(), "listed routes the app no longer serves"
    assert {rule for rule in EXPECTED.values()} <= set(RULES)


async def test_every_route_answers_every_role_as_its_guard_promises(
    tmp_path: Any, clock: FakeClock
) -> None:
    settings = config.load({}, database=str(tmp_path / "roles.db"), rate_limit_per_minute=100_000)
    app = create_app(settings, clock)
    failures: list[str] = []
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        db = db_of(app)
        now = clock()
        staff, _ = await people.add_person(
            db, email="s@example.org", name="S", team="A", role="staff", now=now, invite_hours=1
        )
        manager, _ = await people.add_person(
            db, email="m@example.org", name="M", team="A", role="manager", now=now, invite_hours=1
        )
        other, _ = await people.add_person(
            db, email="o@example.org", name="O", team="B", role="manager", now=now, invite_hours=1
        )
        admin, _ = await people.add_person(
            db, email="a@example.org", name="Ad", team=None, role="admin", now=now, invite_hours=1
        )
        target, _ = await people.add_person(
            db, email="t@example.org", name="T", team="B", role="staff", now=now, invite_hours=1
        )
        team_a = await people.team_by_name(db, "A")
        assert team_a is not None
        key = await auth.create_api_key(db, "kassa", None, now)  # answers only, no reports
        ids = {"staff": staff, "manager": manager, "other_manager": other, "admin": admin}
        params = {
            "team_id": team_a.id,
            "person_id": target,
            "question_id": 1,
            "kiosk_id": 999,
            "link_id": 999,
            "key_id": 999,
            "token": "not-a-token",
            "filename": "nl.json",
            "name": "app.css",
            "path": "swagger",
        }
        page = await client.get("/")
        csrf = page.cookies.get("csrftoken") or client.cookies.get("csrftoken", "")
        for method, template in served_routes(app):
            rule = RULES[EXPECTED.get(f"{method} {template}", "open")]
            path = PARAM.sub(lambda m: str(params[m.group(1)]), template)
            for role in ROLES:
                headers = {"x-csrftoken": csrf, "accept": "application/json"}
                client.cookies.delete(auth.SESSION_COOKIE)
                if role == "apikey":
                    headers["authorization"] = f"Bearer {key}"
                elif role != "anonymous":
                    session = await auth.create_session(db, ids[role], now, 1, "walk")
                    client.cookies.set(auth.SESSION_COOKIE, session, domain="testserver.local")
                sent = BODIES.get(f"{method} {template}", {})
                body = {"json": sent} if path.startswith("/api/") and method != "GET" else {}
                response = await client.request(method, path, headers=headers, **body)
                status, want = response.status_code, rule[role]
                if want == OK:
                    good = status not in (401, 403) and status < 500
                elif want == REFUSED:
                    good = status in (401, 403)
                else:
                    good = status == want
                if not good:
                    failures.append(f"{method} {path} as {role}: {status}, expected {want}")
    assert failures == [], "\n".join(failures)
