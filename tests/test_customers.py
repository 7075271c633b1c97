"""Customer channels: links (/c/<token>), CSV imports, API keys with scopes and team sets, and
the pairing of self-ratings with customer ratings by contact reference."""

from __future__ import annotations

import logging
import re
import sqlite3
import struct
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import answers, auth, callers, cli, config, customers, people, reports
from server.app import create_app
from server.callers import READ_SCOPE, WRITE_SCOPE
from tests.conftest import CSRF_INPUT, START, FakeClock, add_person, answer, db_of, sign_in

Client = AsyncTestClient[Litestar]
URL = "/api/v1/answers"
ZONE = config.load({}).zone
LAST_WEEK = date(2026, 11, 16)


# --- helpers -----------------------------------------------------------------------------


def rows(settings: config.Settings, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with sqlite3.connect(settings.database) as conn:
        return conn.execute(sql, params).fetchall()


async def team(app: Litestar, name: str) -> int:
    async with db_of(app).transaction() as tx:
        return await people.ensure_team(tx, name, None, 0)


async def new_link(app: Litestar, team_name: str = "Balie", nps: bool = True) -> customers.Link:
    team_id = await team(app, team_name)
    asked = customers.link_questions(app.state.questions, nps=nps)
    return await customers.create_link(db_of(app), team_name, team_id, asked, START.timestamp())


def via(link: customers.Link) -> dict[str, str]:
    return {"X-Spiegel-Link": link.token}


async def post(client: Client, *sent: dict[str, Any], headers: dict[str, str]) -> Any:
    return await client.post(URL, json={"answers": list(sent)}, headers=headers)


async def admin(app: Litestar, client: Client) -> None:
    _, token = await add_person(app, email="nina@example.org", role="admin", team=None)
    await sign_in(client, token)


async def csrf(client: Client, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF_INPUT.search(page.text)
    assert found
    return found.group(1)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- customer links ------------------------------------------------------------------------


async def test_link_page_asks_four_faces_without_cookie_or_anything_from_elsewhere(
    app: Litestar, client: Client
) -> None:
    link = await new_link(app)

    page = await client.get(f"/c/{link.token}?ref=T-1")

    assert page.status_code == 200
    assert "set-cookie" not in page.headers
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.text.count('class="face"') == 4
    assert 'data-ref="T-1"' in page.text
    # Every address the page loads is this app's own: no third-party request, no tracker.
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith("/"), url


ROOT = Path(__file__).resolve().parent.parent
# What the link's page loads from /c/s/, and where each file lies in the repository.
LINK_FILES = {
    "link.js": ROOT / "server" / "templates" / "customer" / "link.js",
    "outbox.js": ROOT / "pwa" / "outbox.js",
    "api.js": ROOT / "pwa" / "api.js",
    "app.css": ROOT / "pwa" / "app.css",
    "icon.svg": ROOT / "pwa" / "icons" / "icon.svg",
}


async def test_the_link_pages_files_are_served_under_c_s_from_the_templates_and_the_staff_app(
    app: Litestar, client: Client
) -> None:
    files = LINK_FILES
    link = await new_link(app)
    page = await client.get(f"/c/{link.token}")

    loaded = set(re.findall(r'(?:src|href)="/c/s/([^"?]+)', page.text))
    assert loaded and loaded <= set(files)
    for name, path in files.items():
        served = await client.get(f"/c/s/{name}")
        assert served.status_code == 200, name
        assert served.content == path.read_bytes(), name
    assert (await client.get("/c/s/secrets.txt")).status_code == 404


async def test_link_answers_are_stored_with_the_links_team_ref_and_reason(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    link = await new_link(app)
    smiley, nps = link.questions
    csat = answer(smiley, 4, contact_ref="T-1")
    score = answer(nps, 9, contact_ref="T-1", reason="snel geholpen")

    response = await post(client, csat, score, headers=via(link))

    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["stored", "stored"]
    stored = rows(
        settings,
        "SELECT question_id, value, team_id, link_id, contact_ref, reason, source, person_id"
        " FROM answers ORDER BY question_id",
    )
    assert stored == [
        (smiley, 4, link.team_id, link.id, "T-1", None, "link", None),
        (nps, 9, link.team_id, link.id, "T-1", "snel geholpen", "link", None),
    ]


async def test_a_second_answer_for_the_same_ref_and_question_is_refused_and_the_first_stands(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    link = await new_link(app)
    smiley = link.questions[0]
    first, again, other = (
        answer(smiley, 1, contact_ref="T-1"),
        answer(smiley, 4, contact_ref="T-1"),
        answer(smiley, 4, contact_ref="T-2"),
    )

    assert (await post(client, first, headers=via(link))).json()["results"][0]["status"] == "stored"
    results = (await post(client, again, other, first, headers=via(link))).json()["results"]

    assert [r["status"] for r in results] == ["rejected", "stored", "duplicate"]
    assert results[0]["reason"] == answers.ONCE_PER_CONTACT
    assert rows(settings, "SELECT contact_ref, value FROM answers ORDER BY contact_ref") == [
        ("T-1", 1),
        ("T-2", 4),
    ]
    page = await client.get(f"/c/{link.token}?ref=T-1")
    assert 'data-done="yes"' in page.text and 'class="face"' not in page.text


async def test_a_link_answers_only_its_own_questions_for_its_own_team(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    link = await new_link(app, nps=False)
    other_team = await team(app, "Winkel")

    results = (
        await post(
            client,
            answer(5, 9),  # NPS: not one of this link's questions
            answer(1, 2),  # a staff check-in
            answer(link.questions[0], 3, team=other_team),
            headers=via(link),
        )
    ).json()["results"]

    assert [r["status"] for r in results] == ["rejected"] * 3
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]


async def test_a_disabled_link_says_so_and_its_answers_get_401(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    link = await new_link(app)
    await customers.set_link_disabled(db_of(app), link.id, True, START.timestamp())

    page = await client.get(f"/c/{link.token}")
    posted = await post(client, answer(link.questions[0], 3), headers=via(link))
    unknown = await client.get("/c/" + "x" * 43)

    assert page.status_code == 410
    assert "Deze link wordt niet meer gebruikt" in page.text
    assert posted.status_code == 401
    assert unknown.status_code == 404
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]


async def test_a_too_long_ref_is_a_clear_400_page(app: Litestar, client: Client) -> None:
    link = await new_link(app)

    page = await client.get(f"/c/{link.token}", params={"ref": "x" * 101})

    assert page.status_code == 400
    assert "niet compleet" in page.text


@pytest.fixture
async def strict(db_path: str, clock: FakeClock) -> AsyncIterator[tuple[Litestar, Client]]:
    """An app with small limits per address and per link."""
    settings = config.load(
        {}, database=db_path, link_address_per_minute=3, link_per_minute=5, api_key_per_minute=4
    )
    app = create_app(settings, clock)
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield app, c


async def test_link_posts_are_limited_per_address_and_per_link(
    strict: tuple[Litestar, Client], clock: FakeClock
) -> None:
    app, client = strict
    link = await new_link(app)
    smiley = link.questions[0]

    statuses = [
        (await post(client, answer(smiley, 3), headers=via(link))).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]

    # Other addresses share the link's own limit of 5 a minute.
    limits: auth.CallerLimits = app.state.caller_limits
    assert limits.hit(callers.link(link.id, "", link.team_id, frozenset()), "10.0.0.9") == 0
    assert limits.hit(callers.link(link.id, "", link.team_id, frozenset()), "10.0.0.8") == 0
    assert limits.hit(callers.link(link.id, "", link.team_id, frozenset()), "10.0.0.7") > 0

    clock.advance(60)
    assert (await post(client, answer(smiley, 3), headers=via(link))).status_code == 200


async def test_qr_codes_print_80_mm_wide_for_admins_only(app: Litestar, client: Client) -> None:
    link = await new_link(app)
    assert (await client.get(f"/admin/links/{link.id}/qr.png")).status_code == 401
    await admin(app, client)

    png = await client.get(f"/admin/links/{link.id}/qr.png")
    svg = await client.get(f"/admin/links/{link.id}/qr.svg")
    card = await client.get(f"/admin/links/{link.id}/print")

    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    width = struct.unpack(">I", png.content[16:20])[0]
    dpm = _png_pixels_per_metre(png.content)
    assert dpm == round(customers.QR_DPI / 0.0254)
    assert abs(width / dpm * 1000 - customers.QR_MM) < 4, "about 80 mm wide at its dpi"
    assert svg.headers["content-type"].startswith("image/svg+xml")
    svg_width = re.search(r'width="([\d.]+)mm"', svg.text)
    assert svg_width and abs(float(svg_width.group(1)) - customers.QR_MM) < 0.5
    assert card.status_code == 200 and f"/c/{link.token}" in card.text


def _png_pixels_per_metre(data: bytes) -> int:
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"pHYs":
            return int(struct.unpack(">I", data[at + 8 : at + 12])[0])
        at += 12 + length
    raise AssertionError("no pHYs chunk")


async def test_admin_makes_and_disables_a_link_on_the_links_page(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    shop = await team(app, "Winkel")
    await admin(app, client)
    token = await csrf(client, "/admin/links")

    made = await client.post(
        "/admin/links",
        data={"_csrf_token": token, "name": "Kassabon", "team": str(shop), "nps": "on"},
        follow_redirects=False,
    )
    [(link_id, name, team_id, questions)] = rows(
        settings, "SELECT id, name, team_id, questions FROM customer_links"
    )
    disabled = await client.post(
        f"/admin/links/{link_id}/disable", data={"_csrf_token": token}, follow_redirects=False
    )
    listed = await client.get("/admin/links")

    assert made.status_code == 303
    assert (name, team_id, len(questions.split())) == ("Kassabon", shop, 2)
    assert disabled.status_code == 303
    assert rows(settings, "SELECT disabled_at IS NOT NULL FROM customer_links") == [(1,)]
    assert "uitgezet" in listed.text
    staff = await client.get("/admin/links", headers={"Cookie": ""})
    assert staff.status_code in (401, 403)


async def test_a_link_without_a_name_or_team_is_refused_beside_the_fields_keeping_what_was_typed(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await team(app, "Winkel")
    await admin(app, client)
    token = await csrf(client, "/admin/links")

    nameless = await client.post(
        "/admin/links", data={"_csrf_token": token, "name": " ", "team": "9999", "nps": "on"}
    )
    teamless = await client.post(
        "/admin/links", data={"_csrf_token": token, "name": "Kassabon", "team": ""}
    )

    assert nameless.status_code == teamless.status_code == 400
    assert 'id="e-name"' in nameless.text and 'id="e-team"' in nameless.text
    assert "Geef de link een naam van 1 tot 100 tekens." in nameless.text
    assert 'id="e-name"' not in teamless.text and "Kies een team." in teamless.text
    assert 'value="Kassabon"' in teamless.text
    assert rows(settings, "SELECT COUNT(*) FROM customer_links") == [(0,)]


def test_cli_link_add_prints_the_link_and_writes_its_qr_code(
    db_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in config.setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPIEGEL_DATABASE", db_path)
    assert cli.main(["team", "add", "--name", "Balie"]) == 0
    qr = tmp_path / "balie.png"

    assert cli.main(["link", "add", "--team", "Balie", "--qr", str(qr)]) == 0

    out = capsys.readouterr().out
    token = re.search(r"/c/([A-Za-z0-9_-]{43})\b", out)
    assert token, out
    assert qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT token FROM customer_links").fetchall() == [(token.group(1),)]
    assert cli.main(["link", "add", "--team", "Nergens"]) == 2


# --- CSV import ----------------------------------------------------------------------------


def csv_rows(count: int, bad: dict[int, list[str]] | None = None) -> bytes:
    """A file of `count` valid rows (ISO dates, commas); row i replaced by bad[i]."""
    lines = ["date,team,kind,score,contact_ref,comment"]
    for i in range(count):
        day = date(2026, 9, 1) + timedelta(days=i % 60)
        kind, score = ("csat", 1 + i % 5) if i % 3 else ("nps", i % 11)
        row = [day.isoformat(), "Balie", kind, str(score), f"T-{i}", ""]
        lines.append(",".join((bad or {}).get(i, row)))
    return ("\n".join(lines) + "\n").encode()


async def run_import(app: Litestar, data: bytes, dry_run: bool = False, scale: str = "1-5") -> Any:
    return await customers.import_file(
        db_of(app), data, customers.parse_scale(scale), ZONE, START.timestamp(), dry_run
    )


async def test_three_bad_rows_among_1000_refuse_the_file_then_fixed_it_imports_once(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await team(app, "Balie")
    bad = {
        10: ["2026-09-01", "Balie", "csat", "6", "", ""],
        500: ["31-02-2026", "Balie", "nps", "7", "", ""],
        998: ["2026-09-02", "Onbekend", "csat", "3", "", ""],
    }

    refused = await run_import(app, csv_rows(1000, bad))

    # Line 1 is the header: row i is on line i + 2.
    assert [p.line for p in refused.problems] == [12, 502, 1000]
    reasons = [p.reason for p in refused.problems]
    assert "between 1 and 5" in reasons[0]
    assert "31-02-2026" in reasons[1]
    assert "unknown team 'Onbekend'" in reasons[2]
    assert (refused.rows, refused.valid, refused.stored) == (1000, 997, 0)
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]

    fixed = await run_import(app, csv_rows(1000))
    again = await run_import(app, csv_rows(1000))

    assert (fixed.problems, fixed.stored, fixed.already) == ([], 1000, 0)
    assert (again.stored, again.already) == (0, 1000)
    assert rows(settings, "SELECT COUNT(*), MIN(source), MAX(source) FROM answers") == [
        (1000, "import", "import")
    ]


async def test_a_dry_run_counts_valid_rows_and_stores_nothing(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await team(app, "Balie")

    report = await run_import(app, csv_rows(50), dry_run=True)

    assert (report.rows, report.valid, report.problems, report.stored) == (50, 50, [], 0)
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]


DUTCH_EXCEL = (
    "Datum;Team;Soort;Score;Contact reference;Opmerking\r\n"
    '01-10-2026;Balie;csat;4,0;T-1;"Vriendelijk, maar\r\nde wachttijd was lang"\r\n'
    "2-10-2026;balie;NPS;9;;Top\r\n"
    "03-10-2026;Balie;csat;2;T-3;Café was dicht\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
async def test_a_file_saved_by_dutch_excel_imports(
    app: Litestar, client: Client, settings: config.Settings, encoding: str
) -> None:
    shop = await team(app, "Balie")

    report = await run_import(app, DUTCH_EXCEL.encode(encoding))

    assert (report.problems, report.stored) == ([], 3)
    stored = rows(
        settings,
        "SELECT a.answered_at, q.kind, q.scale_max, a.value, a.team_id, a.contact_ref, a.comment"
        " FROM answers a JOIN questions q ON q.id = a.question_id ORDER BY a.answered_at",
    )
    noon = [int(customers.parse_when(f"{d:02d}-10-2026", ZONE)) for d in (1, 2, 3)]
    assert stored == [
        (noon[0], "customer_csat", 5, 4, shop, "T-1", "Vriendelijk, maar\nde wachttijd was lang"),
        (noon[1], "customer_nps", 10, 9, shop, None, "Top"),
        (noon[2], "customer_csat", 5, 2, shop, "T-3", "Café was dicht"),
    ]


async def test_identical_rows_are_two_answers_and_a_longer_export_adds_only_the_new_ones(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await team(app, "Balie")
    head = b"date;team;kind;score\n"
    twice = head + b"05-10-2026;Balie;csat;4\n05-10-2026;Balie;csat;4\n"

    first = await run_import(app, twice)
    longer = await run_import(app, twice + b"05-10-2026;Balie;csat;4\n06-10-2026;Balie;nps;3\n")

    assert first.stored == 2
    assert (longer.stored, longer.already) == (2, 2)
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(4,)]


async def test_control_characters_in_a_comment_or_reference_refuse_their_rows(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await team(app, "Balie")
    bell = ["2026-09-02", "Balie", "csat", "4", "T-1", "bel\x07"]
    escape = ["2026-09-04", "Balie", "csat", "4", "T\x1b3", ""]

    report = await run_import(app, csv_rows(4, {1: bell, 3: escape}))

    only = "; only newline and tab are allowed"
    assert [(p.line, p.reason) for p in report.problems] == [
        (3, f"comment holds a control character (U+0007){only}"),
        (5, f"contact reference holds a control character (U+001B){only}"),
    ]
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]


async def test_a_declared_scale_and_a_file_without_columns(app: Litestar, client: Client) -> None:
    await team(app, "Balie")
    data = b"date,team,kind,score\n2026-10-01,Balie,csat,4\n"

    three = await run_import(app, data, scale="1-3")
    four = await run_import(app, data, scale="1-4")

    assert "between 1 and 3" in three.problems[0].reason
    assert four.stored == 1
    with pytest.raises(customers.ImportError_, match="lacks kind, score"):
        await run_import(app, b"date,team\n2026-10-01,Balie\n")
    with pytest.raises(customers.ImportError_):
        customers.parse_scale("1-10")


async def test_admin_import_page_checks_then_imports(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    await team(app, "Balie")
    await admin(app, client)
    token = await csrf(client, "/admin/import")
    bad = csv_rows(5, {2: ["2026-09-01", "Balie", "csat", "9", "", ""]})

    def upload(data: bytes, action: str) -> dict[str, Any]:
        return {
            "files": {"file": ("scores.csv", data, "text/csv")},
            "data": {"_csrf_token": token, "action": action, "scale": "1-5"},
        }

    refused = await client.post("/admin/import", **upload(bad, "import"))
    checked = await client.post("/admin/import", **upload(csv_rows(5), "check"))
    done = await client.post("/admin/import", **upload(csv_rows(5), "import"))

    assert refused.status_code == 400 and "<td>4</td>" in refused.text
    assert checked.status_code == 200 and "5 regels zijn geldig" in checked.text
    assert done.status_code == 200 and "5 nieuwe antwoorden" in done.text
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(5,)]


def test_cli_import_refuses_with_line_numbers_then_imports(
    db_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in config.setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPIEGEL_DATABASE", db_path)
    assert cli.main(["team", "add", "--name", "Balie"]) == 0
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_bytes(csv_rows(20, {4: ["2026-09-01", "Balie", "nps", "11", "", ""]}))
    good.write_bytes(csv_rows(20))
    capsys.readouterr()

    assert cli.main(["import", str(bad)]) == 1
    assert "line 6: nps score must be between 0 and 10" in capsys.readouterr().err
    assert cli.main(["import", "--dry-run", str(good)]) == 0
    assert "20 rows valid" in capsys.readouterr().out
    assert cli.main(["import", str(good)]) == 0
    assert "20 answers imported, 0 already there" in capsys.readouterr().out
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM answers").fetchone() == (20,)


async def test_an_import_that_fails_at_one_row_stores_none_of_the_file(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    shop = await team(app, "Balie")
    asked = await customers.import_questions(db_of(app), (1, 5), START.timestamp())
    made = [
        answers.NewAnswer(id=str(uuid.uuid4()), question_id=asked["csat"], value=1 + i % 5,
                          answered_at=int(START.timestamp()) - i, source="import", team_id=shop)
        for i in range(2 * answers.ATOMIC_ROWS + 1)  # more than one statement
    ]  # fmt: skip
    # A team deleted between the check and the store: its row breaks a foreign key.
    broken = msgspec.structs.replace(made[-1], team_id=shop + 1000)

    with pytest.raises(sqlite3.IntegrityError):
        await answers.store_batch(db_of(app), [*made[:-1], broken], START.timestamp(), atomic=True)
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]
    assert rows(settings, "SELECT COUNT(*) FROM report_weeks") == [(0,)]

    statuses = await answers.store_batch(db_of(app), made, START.timestamp(), atomic=True)
    assert statuses == ["stored"] * len(made)
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(len(made),)]


async def test_stored_answers_are_found_among_more_ids_than_sqlite_binds_to_one_query(
    app: Litestar, client: Client
) -> None:
    await team(app, "Balie")
    report = await run_import(app, csv_rows(3))
    stored = [row[0] for row in rows(app.state.settings, "SELECT id FROM answers")]
    unknown = [str(uuid.uuid4()) for _ in range(40_000)]  # SQLite binds at most 32,766

    found = await answers.stored_fingerprints(db_of(app), [*unknown, *stored])

    assert report.stored == 3
    assert sorted(found) == sorted(stored)


ROLLUPS = ("report_units", "report_weeks", "report_days", "report_people")


def rollups(settings: config.Settings) -> dict[str, list[tuple[Any, ...]]]:
    """The reports room's rollup tables, rows sorted, sums rounded; a cell emptied by a
    replaced answer may stay as a row of zeros, which a rebuild does not make."""
    return {
        table: sorted(
            tuple(round(v, 6) if isinstance(v, float) else v for v in row)
            for row in rows(settings, f"SELECT * FROM {table}")
            if table not in ("report_weeks", "report_days") or any(row[3:])
        )
        for table in ROLLUPS
    }


async def rebuilt(app: Litestar, settings: config.Settings) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups rebuilt from every answer stored, in the zone they were kept in."""
    [(zone,)] = rows(settings, "SELECT name FROM report_zone")
    async with db_of(app).transaction() as tx:
        for sql, params in reports.rebuild_statements(zone):
            await tx.execute(sql, params)
    return rollups(settings)


def checkin(person: int, team_id: int, value: int, hours_ago: float) -> answers.NewAnswer:
    return answers.NewAnswer(
        id=str(uuid.uuid4()), question_id=1, value=value, source="app", person_id=person,
        team_id=team_id, answered_at=int(START.timestamp() - hours_ago * 3600),
    )  # fmt: skip


async def test_after_an_import_the_rollups_equal_a_rebuild_from_the_answers(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    shop = await team(app, "Balie")
    link = await new_link(app, "Kassa")
    kim, _ = await add_person(app, email="kim@example.org", team="Balie")
    await answers.store_batch(db_of(app), [checkin(kim, shop, 2, 1)], START.timestamp())
    sent = await post(client, answer(link.questions[0], 3), headers=via(link))
    assert sent.json()["results"][0]["status"] == "stored"
    data = csv_rows(2 * answers.ATOMIC_ROWS + 500) + b"2026-11-02,Kassa,nps,9,,\n"

    report = await run_import(app, data)
    kept = rollups(settings)

    assert report.stored == 2 * answers.ATOMIC_ROWS + 501
    counted = rows(settings, "SELECT SUM(n) FROM report_weeks WHERE anonymous > 0")
    assert counted == [(report.stored + 1,)]  # and the link's answer
    assert kept["report_units"] and kept["report_people"]
    assert kept == await rebuilt(app, settings)


async def test_staff_answers_stored_at_once_replace_and_move_like_one_by_one(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    shop, office = await team(app, "Balie"), await team(app, "Kantoor")
    kim, _ = await add_person(app, email="kim@example.org", team="Balie")
    ann, _ = await add_person(app, email="ann@example.org", team="Balie")
    earlier = [checkin(kim, shop, 1, 5), checkin(ann, shop, 2, 5)]
    await answers.store_batch(db_of(app), earlier, START.timestamp())
    at_once = [
        checkin(kim, office, 2, 2),  # later the same day: replaces, in another team
        checkin(kim, shop, 1, 3),  # earlier than the one above: does not count
        checkin(ann, shop, 1, 6),  # earlier than the stored one: does not count
        checkin(ann, shop, 2, 30),  # another day
        answers.NewAnswer(id=str(uuid.uuid4()), question_id=4, value=3, source="api",
                          team_id=shop, answered_at=int(START.timestamp())),
    ]  # fmt: skip

    statuses = await answers.store_batch(db_of(app), at_once, START.timestamp(), atomic=True)
    kept = rollups(settings)

    assert statuses == ["stored"] * len(at_once)
    counted = rows(settings, "SELECT answer_id FROM report_units ORDER BY answer_id")
    assert counted == sorted([(at_once[0].id,), (earlier[1].id,), (at_once[3].id,)])
    assert kept == await rebuilt(app, settings)


# --- API keys ------------------------------------------------------------------------------


async def test_a_read_only_key_cannot_write(app: Litestar, client: Client) -> None:
    shop = await team(app, "Balie")
    key = await auth.create_api_key(db_of(app), "bi", shop, START.timestamp(), [READ_SCOPE])

    results = (await post(client, answer(4, 3), headers=bearer(key))).json()["results"]

    assert results[0]["status"] == "rejected"
    assert "may not answer" in results[0]["reason"]


async def test_a_revoked_key_gets_401(app: Litestar, client: Client) -> None:
    shop = await team(app, "Balie")
    key = await auth.create_api_key(db_of(app), "kassa", shop, START.timestamp())
    assert (await post(client, answer(4, 3), headers=bearer(key))).status_code == 200
    [listed] = await auth.list_api_keys(db_of(app))

    assert await auth.revoke_api_key(db_of(app), listed.id, START.timestamp())
    assert (await post(client, answer(4, 3), headers=bearer(key))).status_code == 401
    assert (
        await client.get(f"/api/v1/teams/{shop}/summary", headers=bearer(key))
    ).status_code == 401


async def test_a_key_bound_to_teams_writes_to_them_and_not_to_another_team(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    north, south, west = await team(app, "Noord"), await team(app, "Zuid"), await team(app, "West")
    key = await auth.create_api_key(db_of(app), "cc", [north, south], START.timestamp())

    results = (
        await post(
            client,
            answer(4, 3, team=north),
            answer(4, 3, team=south),
            answer(4, 3, team=west),
            answer(4, 3),
            headers=bearer(key),
        )
    ).json()["results"]

    assert [r["status"] for r in results] == ["stored", "stored", "rejected", "rejected"]
    assert results[2]["reason"] == f"you may not file answers under team {west}"
    assert results[3]["reason"] == "team is required"
    assert sorted(rows(settings, "SELECT team_id FROM answers")) == sorted([(north,), (south,)])


async def test_a_staff_kind_posted_with_a_key_is_refused(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    shop = await team(app, "Balie")
    key = await auth.create_api_key(db_of(app), "cc", shop, START.timestamp())

    results = (await post(client, answer(1, 2), answer(2, 2), headers=bearer(key))).json()

    assert [r["status"] for r in results["results"]] == ["rejected", "rejected"]
    assert rows(settings, "SELECT COUNT(*) FROM answers") == [(0,)]


async def test_a_read_key_for_two_teams_sees_their_summaries_only(
    app: Litestar, client: Client
) -> None:
    north, south, west = await team(app, "Noord"), await team(app, "Zuid"), await team(app, "West")
    key = await auth.create_api_key(db_of(app), "bi", [north, south], 0, [READ_SCOPE])

    seen = [
        (await client.get(f"/api/v1/teams/{t}/summary", headers=bearer(key))).status_code
        for t in (north, south, west)
    ]

    assert seen == [200, 200, 403]


async def test_last_use_is_written_at_most_once_a_minute(
    app: Litestar, client: Client, clock: FakeClock, settings: config.Settings
) -> None:
    shop = await team(app, "Balie")
    key = await auth.create_api_key(db_of(app), "cc", shop, START.timestamp())
    assert rows(settings, "SELECT last_used_at FROM api_keys") == [(None,)]

    for _ in range(3):
        await post(client, answer(4, 3), headers=bearer(key))
        clock.advance(10)
    first = rows(settings, "SELECT last_used_at FROM api_keys")
    clock.advance(40)
    await post(client, answer(4, 3), headers=bearer(key))

    assert first == [(int(START.timestamp()),)]
    assert rows(settings, "SELECT last_used_at FROM api_keys") == [(int(START.timestamp()) + 70,)]


async def test_a_key_is_rate_limited(strict: tuple[Litestar, Client]) -> None:
    app, client = strict
    shop = await team(app, "Balie")
    key = await auth.create_api_key(db_of(app), "cc", shop, START.timestamp())

    statuses = [
        (await post(client, answer(4, 3), headers=bearer(key))).status_code for _ in range(5)
    ]

    assert statuses == [200, 200, 200, 200, 429]


async def test_admin_makes_a_key_shown_once_and_revokes_it(
    app: Litestar, client: Client, settings: config.Settings
) -> None:
    shop = await team(app, "Balie")
    await admin(app, client)
    token = await csrf(client, "/admin/apikeys")

    made = await client.post(
        "/admin/apikeys",
        data={
            "_csrf_token": token,
            "name": "Telefonie",
            "scope": [WRITE_SCOPE],
            "team": [str(shop)],
        },
    )
    key = re.search(r'<code id="new-key">(spk_[^<]+)</code>', made.text)
    listed = await client.get("/admin/apikeys")
    [(key_id, scopes, hashed)] = rows(settings, "SELECT id, scopes, key_hash FROM api_keys")
    revoked = await client.post(
        f"/admin/apikeys/{key_id}/revoke", data={"_csrf_token": token}, follow_redirects=False
    )

    assert made.status_code == 200 and key
    assert key.group(1) not in listed.text, "a key is shown once"
    assert (scopes, hashed) == (WRITE_SCOPE, auth.hash_token(key.group(1)))
    assert rows(settings, "SELECT team_id FROM api_key_teams") == [(shop,)]
    assert revoked.status_code == 303
    assert (await post(client, answer(4, 3), headers=bearer(key.group(1)))).status_code == 401


@pytest.fixture
async def loud(db_path: str, clock: FakeClock) -> AsyncIterator[tuple[Litestar, Client]]:
    """An app that logs everything, with the access log on."""
    settings = config.load({}, database=db_path, log_level="DEBUG", access_log=True)
    app = create_app(settings, clock)
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield app, c


async def test_keys_never_appear_in_the_logs(
    loud: tuple[Litestar, Client],
    caplog: pytest.LogCaptureFixture,
    db_path: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, client = loud
    caplog.set_level(logging.DEBUG)
    shop = await team(app, "Balie")
    key = await auth.create_api_key(db_of(app), "cc", shop, START.timestamp())
    await post(client, answer(4, 3), headers=bearer(key))
    await post(client, answer(1, 2), headers=bearer(key))
    await client.post(URL, content=b"{", headers=bearer(key))
    await client.get(f"/api/v1/teams/{shop}/summary", headers=bearer(key))
    await admin(app, client)
    token = await csrf(client, "/admin/apikeys")
    made = await client.post(
        "/admin/apikeys", data={"_csrf_token": token, "name": "x", "scope": WRITE_SCOPE}
    )
    shown = re.search(r'<code id="new-key">(spk_[^<]+)</code>', made.text)
    assert shown, made.text

    server_log = "\n".join(
        logging.Formatter().format(r) for r in caplog.records if not r.name.startswith("httpx")
    )
    assert server_log, "the log was captured"
    for secret in (key, shown.group(1), key[4:], shown.group(1)[4:]):
        assert secret not in server_log


# --- self vs customer ----------------------------------------------------------------------


def at(day: date, hour: float) -> int:
    return int(customers.parse_when(day.isoformat(), ZONE) + (hour - 12) * 3600)


async def pairs_of(app: Litestar, client: Client, match_days: int) -> Any:
    """Six contacts of last week: five rated by customer within a day, one six days later."""
    shop = await team(app, "Balie")
    staff = [(await add_person(app, email=f"s{i}@example.org", team="Balie"))[0] for i in range(6)]
    link = await customers.create_link(
        db_of(app), "mail", shop, customers.link_questions(app.state.questions, nps=False), 0
    )
    own = [
        answers.NewAnswer(
            id=str(uuid.uuid4()), question_id=2, value=2, answered_at=at(LAST_WEEK, 10),
            source="app", person_id=p, team_id=shop, contact_ref=f"T-{i}",
        )
        for i, p in enumerate(staff)
    ]  # fmt: skip
    assert set(await answers.store_batch(db_of(app), own, START.timestamp())) == {"stored"}
    # The customer of T-0 is unhappy (1 of 4) where the agent was happy: one miss. The others
    # are happy (4 of 4); T-5 answers six days after the contact.
    sent = []
    for i in range(6):
        day = LAST_WEEK + timedelta(days=6 if i == 5 else 0)
        when = datetime.fromtimestamp(at(day, 18), UTC).isoformat()
        sent.append(answer(link.questions[0], 1 if i == 0 else 4, contact_ref=f"T-{i}", at=when))
    response = await post(client, *sent, headers=via(link))
    assert {r["status"] for r in response.json()["results"]} == {"stored"}
    who = callers.person(1_000_000, "admin", "Nina", "", None, None)
    context = app.dependencies["ctx"].dependency()
    period = reports.period_from(None, None, None, START.date())
    detail = await reports.team_detail(context, who, shop, period)
    return detail.self_vs_customer


@pytest.mark.parametrize(("match_days", "pairs"), [(14, 6), (3, 5)])
async def test_self_and_customer_ratings_with_one_ref_pair_within_the_window_and_one_miss_counts(
    db_path: str, clock: FakeClock, match_days: int, pairs: int
) -> None:
    settings = config.load({}, database=db_path, contact_match_days=match_days)
    app = create_app(settings, clock)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        found = await pairs_of(app, client, match_days)

    assert found is not None
    assert (found.pairs, found.misses) == (pairs, 1)
    assert found.miss_rate.count == 1 and found.miss_rate.n == pairs
