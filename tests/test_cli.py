"""The `spiegel` command: user add, apikey create and migrate, run as a user would."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient, TestClient

from server import cli, config, db
from server.app import create_app
from tests.conftest import CSRF_INPUT, free_port

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
    assert spiegel(db_path, "team", "add", "--name", "Klantenservice").returncode == 0
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
    assert cli.main(["team", "add", "--name", "Winkel"]) == 0
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
    assert cli.main(["team", "add", "--name", "Balie"]) == 0
    assert cli.main(["team", "add", "--name", "Winkel"]) == 0
    first = ["user", "add", "--email", "anna@example.org", "--name", "Anna", "--team", "Balie"]
    assert cli.main(first) == 0
    capsys.readouterr()

    code = cli.main(
        ["user", "add", "--email", "ANNA@example.org", "--name", "Other", "--team", "Winkel"]
    )

    assert code != 0
    assert "already exists" in capsys.readouterr().err
    assert people_rows(env_db) == [("anna@example.org", "Anna", "staff", 1)]
    assert query(env_db, "SELECT name FROM teams ORDER BY id") == [("Balie",), ("Winkel",)]
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
    assert cli.main(["team", "add", "--name", "Balie"]) == 0
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


# --- teams -------------------------------------------------------------------------------


def test_an_unknown_team_is_an_error_that_lists_the_known_teams_and_adds_nothing(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["team", "add", "--name", "Klantenservice"]) == 0
    assert cli.main(["team", "add", "--name", "Winkel"]) == 0

    code = cli.main(
        ["user", "add", "--email", "a@example.org", "--name", "A", "--team", "Klantenservce"]
    )

    assert code == 2
    err = capsys.readouterr().err
    assert "no team named 'Klantenservce'" in err
    assert "known teams: Klantenservice, Winkel" in err
    assert 'spiegel team add --name "Klantenservce"' in err
    assert people_rows(env_db) == []
    assert query(env_db, "SELECT name FROM teams ORDER BY name") == [
        ("Klantenservice",),
        ("Winkel",),
    ]


def test_team_add_nests_under_a_parent_and_refuses_a_name_in_use(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["team", "add", "--name", "Klantenservice"]) == 0
    assert cli.main(["team", "add", "--name", "Zakelijk", "--parent", "Klantenservice"]) == 0
    capsys.readouterr()

    again = cli.main(["team", "add", "--name", "Zakelijk"])
    orphan = cli.main(["team", "add", "--name", "Avond", "--parent", "Nergens"])

    assert (again, orphan) == (2, 2)
    err = capsys.readouterr().err
    assert "a team named 'Zakelijk' exists" in err
    assert "no team named 'Nergens'" in err
    assert query(env_db, "SELECT t.name, p.name FROM teams t LEFT JOIN teams p"
                 " ON p.id = t.parent_id ORDER BY t.id") == [
        ("Klantenservice", None), ("Zakelijk", "Klantenservice")
    ]  # fmt: skip
    assert cli.main(["team", "list"]) == 0
    assert "Zakelijk  0 people  (under Klantenservice)" in capsys.readouterr().out


# --- finding the database and the server -------------------------------------------------


def test_the_command_started_anywhere_uses_the_database_make_run_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIEGEL_")}
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "spiegel"), "settings"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("SPIEGEL_DATABASE "))
    assert repr(str(ROOT / ".data" / "spiegel.db")) in line
    assert "from default" in line
    assert (
        "SPIEGEL_DATABASE"
        not in (ROOT / "Makefile").read_text().split("run:")[0].replace("# ", "#").split("#")[0]
    ), "the Makefile must not point make run at another file"
    assert list(tmp_path.iterdir()) == [], "nothing was created in the current folder"


def test_settings_shows_the_value_in_effect_and_where_it_came_from(
    env_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPIEGEL_PORT", "9123")
    monkeypatch.setenv("SPIEGEL_SECRET_KEY", "do-not-show-me")

    assert cli.main(["settings"]) == 0

    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "9123" in lines["SPIEGEL_PORT"] and "from environment" in lines["SPIEGEL_PORT"]
    assert "5" in lines["SPIEGEL_ANONYMITY_K"] and "from default" in lines["SPIEGEL_ANONYMITY_K"]
    assert repr(env_db) in lines["SPIEGEL_DATABASE"]
    assert "http://127.0.0.1:9123" in lines["SPIEGEL_BASE_URL"]
    assert "do-not-show-me" not in "".join(lines.values())
    assert set(config.setting_names()) <= set(lines)


def test_demo_on_a_database_with_people_says_what_is_there_and_how_to_sign_in(
    env_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["team", "add", "--name", "Balie"]) == 0
    assert cli.main(["user", "add", "--email", "ed@example.org", "--name", "Ed", "--role",
                     "admin"]) == 0  # fmt: skip
    capsys.readouterr()

    assert cli.main(["demo"]) == 0

    out = capsys.readouterr().out
    assert "already has 1 person in 1 team: demo not loaded, nothing changed" in out
    assert "spiegel user invite --email ed@example.org" in out
    assert "demo data loaded" not in out
    assert len(people_rows(env_db)) == 1


def test_the_link_points_at_the_server_running_on_the_database(
    db_path: str, tmp_path: Path
) -> None:
    from tests.test_serve import serving

    assert spiegel(db_path, "team", "add", "--name", "Balie").returncode == 0
    with serving(db_path, tmp_path / "serve.log") as (url, _):
        done = spiegel(db_path, "user", "add", "--email", "a@example.org", "--name", "A",
                       "--team", "Balie")  # fmt: skip
    after = spiegel(db_path, "user", "invite", "--email", "a@example.org")

    assert done.returncode == 0, done.stderr
    [(link, _)] = LINK.findall(done.stdout)
    assert link.startswith(f"{url}/signin/") and not url.endswith(":8000")
    # Once that server has stopped, the settings of the command itself apply again.
    assert after.stdout.startswith("http://127.0.0.1:8000/signin/")


def test_a_second_server_on_the_same_database_exits_with_one_clear_line(
    db_path: str, tmp_path: Path
) -> None:
    from tests.test_serve import SERVE, serve_env, serving

    with serving(db_path, tmp_path / "serve.log") as (url, process):
        second = subprocess.run(
            SERVE,
            cwd=ROOT,
            env=serve_env(db_path, free_port()),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert process.poll() is None, "the first server keeps running"

    assert second.returncode == 2
    assert second.stderr.strip() == (
        f"error: another Spiegel server (pid {process.pid}, {url}) already serves {db_path};"
        " stop it first"
    )
    assert "Spiegel is running" not in second.stdout


def test_help_speaks_of_teams_people_and_the_database(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["user", "add", "--help"])
    add = " ".join(capsys.readouterr().out.split())  # argparse wraps lines

    assert ".data/spiegel.db" in top and "setup link" in top
    assert "spiegel team list" in add and "managers see their teams' figures" in add


# --- the README, as written --------------------------------------------------------------


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Running it yourself", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_commands_add_a_person_whose_link_signs_in_on_the_running_server(
    db_path: str, tmp_path: Path
) -> None:
    from tests.test_serve import serving

    commands = readme_commands()
    assert any(" user add " in c for c in commands)
    # `make run`: the demo, then the server (here on a free port, as SPIEGEL_PORT would).
    assert spiegel(db_path, "demo").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIEGEL_")}
    env["SPIEGEL_DATABASE"] = db_path  # the test's file instead of .data/spiegel.db
    with serving(db_path, tmp_path / "serve.log") as (url, _):
        outputs = []
        for command in commands:
            done = subprocess.run(
                command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            outputs.append(done.stdout)
        links = LINK.findall("".join(outputs))
        assert len(links) == sum(" user add " in c for c in commands)
        signed_in = []
        with httpx.Client() as browser:
            for link, _ in links:
                assert link.startswith(f"{url}/signin/")
                page = browser.get(link)
                csrf = CSRF_INPUT.search(page.text)
                assert page.status_code == 200 and csrf is not None
                done_signin = browser.post(link, data={"_csrf_token": csrf.group(1)})
                assert done_signin.status_code == 303
                signed_in.append(browser.get(f"{url}/api/v1/me").json()["email"])
    assert signed_in == ["anna@example.org", "jan@example.org"]


def test_settings_names_the_organisation_where_the_admin_screens_set_a_value(
    env_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    conn = sqlite3.connect(env_db)
    conn.execute("UPDATE organisation SET timezone = 'Europe/Lisbon', anonymity_k = 7")
    conn.commit()
    conn.close()
    monkeypatch.setenv("SPIEGEL_ANONYMITY_K", "9")
    capsys.readouterr()

    assert cli.main(["settings"]) == 0

    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "'Europe/Lisbon'" in lines["SPIEGEL_TIMEZONE"]
    assert "from organisation" in lines["SPIEGEL_TIMEZONE"]
    assert (
        " 9 " in lines["SPIEGEL_ANONYMITY_K"] and "from environment" in lines["SPIEGEL_ANONYMITY_K"]
    )
