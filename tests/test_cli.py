"""The `spiegel` command: user add, apikey create and migrate, run as a user would."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient, TestClient

from server import cli, config, db
from server.app import create_app
from tests.conftest import CSRF_INPUT

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"^(https?://\S+/signin/(\S+))$", re.MULTILINE)


def spiegel(db_path: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process, as `spiegel ...` in a shell would."""
    env = {**os.environ, "SPIEGEL_DATABASE": db_path, "PYTHONPATH": str(ROOT)}
    env.pop("SPIEGEL_BASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def query(path: str, sql: str) -> list[tuple[object, ...]]:
    if not Path(path).exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def people_rows(path: str) -> list[tuple[object, ...]]:
    if not Path(path).exists():
        return []
    return query(path, "SELECT email, name, role, team_id FROM people")


@pytest.fixture
def env_db(db_path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the in-process CLI at the test's database file."""
    for name in config.setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPIEGEL_DATABASE", db_path)
    return db_path


# --- user add ----------------------------------------------------------------------------


async def test_user_add_prints_a_one_time_link_that_signs_in(db_path: str) -> None:
    done = spiegel(
        db_path, "user", "add", "--email", "Anna@Example.org", "--name", "Anna",
        "--team", "Klantenservice", "--role", "staff",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    [(link, token)] = LINK.findall(done.stdout)
    assert link.startswith("http://127.0.0.1:8000/signin/")
    assert people_rows(db_path) == [("anna@example.org", "Anna", "staff", 1)]
    assert token not in " ".join(
        str(v) for row in query(db_path, "SELECT * FROM invites") for v in row
    )

    app = create_app(config.load({}, database=db_path))
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        page = await client.get(f"/signin/{token}")
        match = CSRF_INPUT.search(page.text)
        assert match
        first = await client.post(
            f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
        )
        again = await client.post(
            f"/signin/{token}", data={"_csrf_token": match.group(1)}, follow_redirects=False
        )
        me = await client.get("/api/v1/me")

    assert first.status_code == 303
    assert again.status_code == 410
    assert me.json()["email"] == "anna@example.org"


def test_user_add_manager_manages_the_named_team(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["user", "add", "--email", "mila@example.org", "--name", "Mila", "--team", "Winkel",
         "--role", "manager"]
    )  # fmt: skip

    assert code == 0
    assert LINK.search(capsys.readouterr().out)
    assert people_rows(env_db) == [("mila@example.org", "Mila", "manager", None)]
    assert query(env_db, "SELECT t.name FROM team_managers m JOIN teams t ON t.id = m.team_id") == [
        ("Winkel",)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--name", "Anna", "--team", "Balie"], "e-mail"),
        (["--email", "anna@", "--name", "Anna", "--team", "Balie"], "e-mail"),
        (["--email", "anna smit@example.org", "--name", "Anna", "--team", "Balie"], "e-mail"),
        (["--email", "anna@example.org", "--name", "Anna"], "team"),
        (["--email", "anna@example.org", "--name", "Anna", "--team", "  "], "team"),
        (["--email", "anna@example.org", "--name", " ", "--team", "Balie"], "name"),
    ],
)
def test_user_add_refuses_bad_input_and_stores_nothing(
    env_db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = cli.main(["user", "add", "--role", "staff", *args])

    assert code != 0
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert message in err
    assert people_rows(env_db) == []
    assert query(env_db, "SELECT * FROM teams") == []


def test_user_add_refuses_a_duplicate_email_and_keeps_the_first(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ["user", "add", "--email", "anna@example.org", "--name", "Anna", "--team", "Balie"]
    assert cli.main(first) == 0
    capsys.readouterr()

    code = cli.main(
        ["user", "add", "--email", "ANNA@example.org", "--name", "Other", "--team", "Winkel"]
    )

    assert code != 0
    assert "already exists" in capsys.readouterr().err
    assert people_rows(env_db) == [("anna@example.org", "Anna", "staff", 1)]
    assert query(env_db, "SELECT name FROM teams") == [("Balie",)]
    assert query(env_db, "SELECT COUNT(*) FROM invites") == [(1,)]


def test_user_add_refuses_an_unknown_role(env_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["user", "add", "--email", "a@example.org", "--name", "A", "--role", "boss"])

    assert exit_.value.code != 0
    assert "boss" in capsys.readouterr().err
    assert people_rows(env_db) == []


# --- apikey create -----------------------------------------------------------------------


def test_apikey_create_prints_the_key_once_and_stores_only_its_hash(db_path: str) -> None:
    done = spiegel(db_path, "apikey", "create", "--name", "kassa")

    assert done.returncode == 0, done.stderr
    keys = re.findall(r"^spk_\S+$", done.stdout, re.MULTILINE)
    assert len(keys) == 1
    key = keys[0]
    assert len(key) >= 40
    assert query(db_path, "SELECT name, key_hash FROM api_keys") == [
        ("kassa", hashlib.sha256(key.encode()).hexdigest())
    ]
    files = [p for p in Path(db_path).parent.iterdir() if p.name.startswith("spiegel.db")]
    for file in files:
        assert key.encode() not in file.read_bytes(), f"the key text is in {file.name}"


def test_api_key_from_the_cli_answers_a_customer_question(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(["user", "add", "--email", "a@example.org", "--name", "A", "--team", "Balie"]) == 0
    )
    assert cli.main(["apikey", "create", "--name", "kassa", "--team", "Balie"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]

    app = create_app(config.load({}, database=env_db))
    with TestClient(app) as client:
        questions = client.get("/api/v1/questions", headers={"Authorization": f"Bearer {key}"})

    assert questions.status_code == 200
    assert {q["kind"] for q in questions.json()["questions"]} == {"customer_csat", "customer_nps"}


def test_apikey_create_for_an_unknown_team_is_refused_and_stores_nothing(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["apikey", "create", "--name", "kassa", "--team", "Nowhere"])

    assert code != 0
    assert "Nowhere" in capsys.readouterr().err
    assert query(env_db, "SELECT * FROM api_keys") == []


# --- migrate -----------------------------------------------------------------------------


def test_migrate_applies_everything_once(db_path: str) -> None:
    first = spiegel(db_path, "migrate")
    second = spiegel(db_path, "migrate")

    assert first.returncode == 0, first.stderr
    assert "0001_init.sql" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert query(db_path, "SELECT version FROM schema_migrations") == [
        (m.version,) for m in db.available_migrations()
    ]


def test_cli_refuses_a_bad_setting_with_a_message(
    env_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPIEGEL_ANONYMITY_K", "2")

    assert cli.main(["migrate"]) != 0
    assert "SPIEGEL_ANONYMITY_K" in capsys.readouterr().err
    assert not Path(env_db).exists()
