"""The one typed configuration: documented, validated, and silent about secrets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import auth, config
from server.app import create_app
from tests.conftest import CSRF_INPUT, FakeClock, add_person, db_of

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
SECRET = "s3cret-key-that-must-never-print-0123456789"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text("utf-8")

    missing = [name for name in config.setting_names() if f"`{name}`" not in text]

    assert missing == [], f"settings missing from docs/configuration.md: {missing}"


def test_every_setting_has_help_text() -> None:
    assert all(help_text for _, _, help_text in config.describe())


def test_settings_are_read_from_spiegel_variables() -> None:
    settings = config.load(
        {"SPIEGEL_PORT": "9000", "SPIEGEL_ANONYMITY_K": "7", "SPIEGEL_COMMENT_K": "7", "PORT": "1"}
    )

    assert (settings.port, settings.anonymity_k, settings.comment_k) == (9000, 7, 7)


def test_empty_variable_means_the_default() -> None:
    assert config.load({"SPIEGEL_PORT": ""}).port == 8000


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SPIEGEL_ANONYMITY_K": "2"}, "SPIEGEL_ANONYMITY_K"),
        ({"SPIEGEL_ANONYMITY_K": "0"}, "SPIEGEL_ANONYMITY_K"),
        ({"SPIEGEL_ANONYMITY_K": "5", "SPIEGEL_COMMENT_K": "4"}, "SPIEGEL_COMMENT_K"),
        ({"SPIEGEL_PORT": "abc"}, "SPIEGEL_PORT"),
        ({"SPIEGEL_PORT": "70000"}, "SPIEGEL_PORT"),
        ({"SPIEGEL_TIMEZONE": "Europe/Atlantis"}, "SPIEGEL_TIMEZONE"),
        ({"SPIEGEL_LOG_LEVEL": "LOUD"}, "SPIEGEL_LOG_LEVEL"),
        ({"SPIEGEL_DB_SYNCHRONOUS": "OFF"}, "SPIEGEL_DB_SYNCHRONOUS"),
        ({"SPIEGEL_SESSION_DAYS": "0"}, "SPIEGEL_SESSION_DAYS"),
        ({"SPIEGEL_MAX_BODY_BYTES": "10"}, "SPIEGEL_MAX_BODY_BYTES"),
    ],
)
def test_bad_value_is_refused_with_a_message_naming_the_variable(
    env: dict[str, str], names: str
) -> None:
    with pytest.raises(ValueError, match=names):
        config.load(env)


def test_anonymity_threshold_below_three_is_refused_even_in_code() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        config.load({}, anonymity_k=2)


def test_secret_never_appears_in_repr_str_or_format() -> None:
    settings = config.load({"SPIEGEL_SECRET_KEY": SECRET})

    assert settings.secret_key.reveal() == SECRET
    for shown in (
        repr(settings),
        str(settings),
        f"{settings.secret_key}",
        repr(settings.secret_key),
    ):
        assert SECRET not in shown
    assert "***" in repr(settings)


def test_settings_list_of_the_cli_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli

    monkeypatch.setenv("SPIEGEL_SECRET_KEY", SECRET)

    assert cli.main(["settings"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert all(name in out for name in config.setting_names())


def test_secret_key_signs_the_csrf_tokens(db_path: str) -> None:
    app = create_app(config.load({}, database=db_path, secret_key=SECRET))

    assert app.csrf_config is not None
    assert app.csrf_config.secret == SECRET


def test_secret_key_cannot_be_encoded_by_accident() -> None:
    """Anything that serialises the settings (a debug page, a support dump) shows no secret."""
    settings = config.load({"SPIEGEL_SECRET_KEY": SECRET})

    try:
        encoded = msgspec.json.encode(settings).decode()
    except TypeError:
        return  # refusing to encode it is safe too
    assert SECRET not in encoded


@pytest.fixture
async def loud_app(db_path: str) -> AsyncIterator[tuple[Litestar, AsyncTestClient[Litestar]]]:
    """An app that logs everything (built before caplog attaches, as the server is)."""
    settings = config.load({}, database=db_path, log_level="DEBUG", secret_key=SECRET)
    app = create_app(settings, FakeClock())
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        yield app, client


async def test_no_secret_appears_in_the_log_output_of_requests(
    loud_app: tuple[Litestar, AsyncTestClient[Litestar]], caplog: pytest.LogCaptureFixture
) -> None:
    app, client = loud_app
    caplog.set_level(logging.DEBUG)
    _, invite = await add_person(app)
    _, spare_invite = await add_person(app, email="bob@example.org")
    key = await auth.create_api_key(db_of(app), "kassa", None, 0)
    page = await client.get(f"/signin/{invite}")
    form = CSRF_INPUT.search(page.text)
    assert form
    await client.post(f"/signin/{invite}", data={"_csrf_token": form.group(1)})
    session = client.cookies[auth.SESSION_COOKIE]
    await client.post("/api/v1/answers", json={"answers": []}, headers=_bearer(key))
    await client.post("/api/v1/answers", content=b"{", headers=_bearer(key))
    await client.get("/api/v1/me")
    await db_of(app).close()  # every request from here on fails inside the app: a 500
    failed = await client.post(f"/signin/{spare_invite}", data={"_csrf_token": form.group(1)})
    await client.get("/api/v1/me")

    assert failed.status_code == 500
    server_log = "\n".join(
        logging.Formatter().format(r)
        for r in caplog.records
        if not r.name.startswith("httpx")  # the test's own client, not the server
    )
    assert "Uncaught exception" in server_log, "the failure was logged, so the log was captured"
    for secret in (SECRET, invite, spare_invite, session, key):
        assert secret not in server_log


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
