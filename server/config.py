"""The one typed configuration of Spiegel, read from ``SPIEGEL_*`` environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

PREFIX = "SPIEGEL_"
DEFAULT_DATABASE = ".data/spiegel.db"
# The Spiegel folder: the checkout holding server/ (an editable install, `make run`).
HOME = Path(__file__).resolve().parent.parent


class Secret(str):
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def __str__(self) -> str:
        return "***" if self else ""

    def __format__(self, spec: str) -> str:
        return str(self)

    def reveal(self) -> str:
        return str.__str__(self)


def _meta(description: str) -> Any:
    return msgspec.Meta(description=description)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting once: its name is the field, its variable is SPIEGEL_<FIELD>."""

    database: Annotated[
        str,
        _meta(
            "Path of the SQLite database file; the default lies in the Spiegel folder (where "
            "`make run` keeps it), whatever folder a command starts in."
        ),
    ] = DEFAULT_DATABASE
    host: Annotated[str, _meta("Address the web server listens on.")] = "127.0.0.1"
    port: Annotated[int, _meta("Port the web server listens on."), msgspec.Meta(ge=1, le=65535)] = (
        8000
    )
    base_url: Annotated[
        str,
        _meta("Public URL of the app, used in sign-in links; https makes cookies Secure."),
    ] = ""
    timezone: Annotated[
        str, _meta("IANA time zone of the organisation: days, weeks and reminders follow it.")
    ] = "Europe/Amsterdam"
    anonymity_k: Annotated[
        int,
        _meta("Fewest distinct respondents behind any figure a manager sees (never below 3)."),
    ] = 5
    comment_k: Annotated[
        int, _meta("Fewest respondents before comments are shown to managers (never below k).")
    ] = 10
    secret_key: Annotated[
        Secret,
        _meta("Key that signs CSRF tokens; generated and kept in the database when empty."),
    ] = Secret("")
    log_level: Annotated[str, _meta("Logging level: DEBUG, INFO, WARNING or ERROR.")] = "INFO"
    access_log: Annotated[
        bool, _meta("Log a line per request (a reverse proxy in front usually does already).")
    ] = False
    db_synchronous: Annotated[
        str,
        _meta(
            "SQLite synchronous mode: FULL (every commit on disk before the answer is "
            "acknowledged) or NORMAL (faster; a power cut may lose the last commits)."
        ),
    ] = "FULL"
    db_busy_timeout_ms: Annotated[
        int,
        _meta(
            "How long a write waits for a lock held by another process (the CLI, a backup) "
            "before the request is answered 503, in milliseconds."
        ),
        msgspec.Meta(ge=0),
    ] = 5000
    session_days: Annotated[
        int, _meta("Days a sign-in on a device lasts without use."), msgspec.Meta(ge=1)
    ] = 180
    invite_hours: Annotated[
        int, _meta("Hours an invite (sign-in) link stays valid."), msgspec.Meta(ge=1)
    ] = 168
    answer_horizon_days: Annotated[
        int,
        _meta("Oldest answer accepted, in days: an offline device may sync this late."),
        msgspec.Meta(ge=1),
    ] = 60
    clock_skew_seconds: Annotated[
        int,
        _meta("How far in the future an answer's time may lie (device clocks drift)."),
        msgspec.Meta(ge=0),
    ] = 300
    max_body_bytes: Annotated[
        int, _meta("Largest request body accepted, in bytes."), msgspec.Meta(ge=1024)
    ] = 1_048_576
    rate_limit_per_minute: Annotated[
        int,
        _meta("Requests a minute one address may make to sign-in and other open endpoints."),
        msgspec.Meta(ge=1),
    ] = 60
    api_key_per_minute: Annotated[
        int, _meta("Requests a minute one API key may make."), msgspec.Meta(ge=1)
    ] = 600
    link_per_minute: Annotated[
        int,
        _meta("Requests a minute all phones together may make through one customer link."),
        msgspec.Meta(ge=1),
    ] = 300
    link_address_per_minute: Annotated[
        int,
        _meta("Requests a minute one address may make through a customer link."),
        msgspec.Meta(ge=1),
    ] = 20
    contact_match_days: Annotated[
        int,
        _meta("Days apart a staff self-rating and a customer rating of the same contact "
              "reference may lie and still be paired."),
        msgspec.Meta(ge=0, le=365),
    ] = 14
    demo_seed: Annotated[int, _meta("Seed of the demo data generator.")] = 42
    reminders: Annotated[
        bool, _meta("Send reminders and alerts from this process (a scheduler inside the app).")
    ] = True
    reminder_late_minutes: Annotated[
        int,
        _meta("How late a missed reminder may still go out the same day (after a restart)."),
        msgspec.Meta(ge=1, le=1440),
    ] = 120
    push_contact: Annotated[
        str,
        _meta("E-mail address push services may contact about this server (VAPID); "
              "empty: push@ the base URL's host."),
    ] = ""
    push_services: Annotated[
        str,
        _meta("Hosts push subscriptions may point to, comma-separated (*.host: subdomains)."),
    ] = (
        "fcm.googleapis.com,*.push.services.mozilla.com,*.push.apple.com,"
        "*.notify.windows.com"
    )

    def __post_init__(self) -> None:
        if self.anonymity_k < 3:
            raise ValueError("SPIEGEL_ANONYMITY_K must be at least 3")
        if self.comment_k < self.anonymity_k:
            raise ValueError("SPIEGEL_COMMENT_K must be at least SPIEGEL_ANONYMITY_K")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"SPIEGEL_TIMEZONE: unknown time zone {self.timezone!r}") from exc
        if self.db_synchronous.upper() not in {"NORMAL", "FULL"}:
            raise ValueError("SPIEGEL_DB_SYNCHRONOUS must be NORMAL or FULL")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("SPIEGEL_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


def setting_names() -> list[str]:
    """The environment variable of every setting, in declaration order."""
    return [PREFIX + name.upper() for name in Settings.__struct_fields__]


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting, for the CLI and the docs test."""
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    rows = []
    for field in info.fields:
        typ = field.type
        help_text = ""
        while isinstance(typ, msgspec.inspect.Metadata):
            help_text = (typ.extra_json_schema or {}).get("description", help_text)
            typ = typ.type
        rows.append((PREFIX + field.name.upper(), str(field.default), help_text))
    return rows


def default_database() -> str:
    """The database every command finds when SPIEGEL_DATABASE is not set: the one `make run`
    serves, in the Spiegel folder, not in whatever folder the command was started from."""
    if (HOME / "pyproject.toml").exists():
        return str(HOME / DEFAULT_DATABASE)
    return DEFAULT_DATABASE  # installed as a package: the current folder, as documented


def sources(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each setting's value comes from: "environment" or "default"."""
    source = os.environ if env is None else env
    return {
        name: "environment" if source.get(PREFIX + name.upper()) else "default"
        for name in Settings.__struct_fields__
    }


def _decode_custom(typ: type, value: Any) -> Any:
    if typ is Secret and isinstance(value, str):
        return Secret(value)
    raise NotImplementedError(typ)


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment (or ``env``), with keyword overrides on top."""
    source = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for name in Settings.__struct_fields__:
        value = source.get(PREFIX + name.upper())
        if value is not None and value != "":
            raw[name] = value
    raw.update(overrides)
    raw.setdefault("database", default_database())
    try:
        return msgspec.convert(raw, Settings, strict=False, dec_hook=_decode_custom)
    except msgspec.ValidationError as exc:
        # msgspec names the field (`$.port`); a person sets the variable (SPIEGEL_PORT).
        message = re.sub(r"`\$\.(\w+)`", lambda m: PREFIX + m.group(1).upper(), str(exc))
        raise ValueError(f"Invalid setting: {message}") from exc
