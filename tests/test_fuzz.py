"""Property-based fuzzing of the served API: schemathesis draws requests from the OpenAPI
schema the running server publishes and sends them, signed in as each role, to `spiegel
serve` over HTTP. No request may get a 5xx, and every documented response must match its
schema. The examples per operation are few, so the whole run stays well under a minute."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from server import auth, people
from server.callers import SCOPES
from server.db import Database, migrate
from tests.conftest import CSRF_INPUT
from tests.test_serve import serving

# Hypothesis keeps caches in ./.hypothesis even without an example database (as in
# tests/test_analytics.py): keep the work tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "spiegel-hypothesis")

EXAMPLES = 8
# Operations that end the caller's own sign-in: drawn at random, they would turn the rest of
# the run into 401s.
ENDS_SIGN_IN = ("signout", "unpair")


async def _callers(database: str) -> tuple[dict[str, str], str]:
    """Invite tokens of a staff member, a manager and an admin, and an API key."""
    migrate(database)
    db = Database(database)
    await db.open()
    try:
        tokens = {}
        for role, team in (("staff", "Winkel"), ("manager", None), ("admin", None)):
            _, tokens[role] = await people.add_person(
                db,
                email=f"{role}@example.org",
                name=role.title(),
                team=team,
                role=role,  # type: ignore[arg-type]
                now=time.time(),
                invite_hours=1,
            )
        key = await auth.create_api_key(db, "fuzz", None, time.time(), scopes=SCOPES)
    finally:
        await db.close()
    return tokens, key


def session_cookie(url: str, token: str) -> str:
    with httpx.Client(base_url=url) as browser:
        page = browser.get(f"/signin/{token}")
        csrf = CSRF_INPUT.search(page.text)
        assert csrf is not None, page.text
        done = browser.post(f"/signin/{token}", data={"_csrf_token": csrf.group(1)})
        assert done.status_code == 303, done.text
        return str(browser.cookies[auth.SESSION_COOKIE])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A real server and the headers of each role: staff, manager, admin, API key."""
    folder = tmp_path_factory.mktemp("fuzz")
    database = str(folder / "spiegel.db")
    tokens, key = asyncio.run(_callers(database))
    with serving(database, folder / "serve.log") as (url, _):
        roles: dict[str, Any] = {
            role: {"Cookie": f"{auth.SESSION_COOKIE}={session_cookie(url, token)}"}
            for role, token in tokens.items()
        }
        roles["apikey"] = {"Authorization": f"Bearer {key}"}
        yield url, roles
        assert "Traceback" not in (folder / "serve.log").read_text()


@pytest.mark.parametrize("role", ["staff", "manager", "admin", "apikey"])
def test_no_request_drawn_from_the_schema_gets_a_5xx_or_an_undocumented_body(
    served: tuple[str, dict[str, Any]], role: str
) -> None:
    url, roles = served
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    tried = 0
    for operation in operations:
        if any(word in operation.path for word in ENDS_SIGN_IN):
            continue

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        # Valid requests and ones that break the schema on purpose, half and half.
        @given(
            case=st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            )
        )
        def fuzz(case: Any) -> None:
            response = case.call(base_url=url, headers=roles[role], timeout=10)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        fuzz()
        tried += 1
    assert tried >= 15
    # Still signed in: the run exercised the routes as this role, not as nobody.
    me = httpx.get(f"{url}/api/v1/questions", headers=roles[role])
    assert me.status_code == 200, me.text
