"""The `spiegel` command: each subcommand is a few lines calling the rooms."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from server import auth, config, db, demo, people
from server.clock import system_clock

T = TypeVar("T")
SCOPES = ("answers:write", "reports:read")  # server.reports.SCOPES; a test keeps them equal


def _with_db(settings: config.Settings, work: Callable[[db.Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db.migrate(settings.database)
        database = db.Database(settings.database, settings.db_synchronous)
        await database.open()
        try:
            return await work(database)
        finally:
            await database.close()

    return asyncio.run(run())


class RedactSignInTokens(logging.Filter):
    """Access log lines show /signin/*** instead of the one-time token in the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        return True


def _redacted(value: object) -> object:
    return auth.redact_sign_in_tokens(value) if isinstance(value, str) else value


def server_logging() -> dict[str, Any]:
    """Granian's logging, applied in its worker process too: the access log is redacted."""
    stdout = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    return {
        "filters": {"redact_sign_in_tokens": {"()": f"{__name__}.RedactSignInTokens"}},
        "handlers": {
            "console": {**stdout, "formatter": "generic"},
            "access": {**stdout, "formatter": "access", "filters": ["redact_sign_in_tokens"]},
        },
    }


def cmd_serve(settings: config.Settings, _: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    # Granian serves from a worker process that builds the app from the same SPIEGEL_*
    # environment; migrating here first reports a broken database before the server starts.
    db.migrate(settings.database)
    server = Granian(
        "server.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=server_logging(),
        log_access=settings.access_log,
    )
    # Said once the socket is bound, so never when the address is taken.
    server.on_startup(
        lambda: print(
            f"Spiegel is running at {settings.public_url}/  (Ctrl+C stops it)", flush=True
        )
    )
    try:
        server.serve()
    except RuntimeError as exc:  # Granian's socket errors, e.g. "Address already in use"
        reason = str(exc).splitlines()[0]
        print(f"error: cannot listen on {settings.host}:{settings.port}: {reason}", file=sys.stderr)
        return 2
    return 0


def cmd_migrate(settings: config.Settings, _: argparse.Namespace) -> int:
    done = db.migrate(settings.database)
    print(f"applied: {', '.join(done)}" if done else "the database is up to date")
    return 0


def cmd_demo(settings: config.Settings, _: argparse.Namespace) -> int:
    async def work(database: db.Database) -> list[tuple[str, str, str]]:
        loaded = await demo.load(database, settings, system_clock())
        print("demo data loaded" if loaded else "demo data already present; left as it is")
        return await demo.sign_in_links(database, settings, system_clock())

    links = _with_db(settings, work)
    print("Sign in as (each link works once):")
    for role, name, link in links:
        print(f"  {role:<8} {name:<24} {link}")
    return 0


def cmd_user_add(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> str:
        _, token = await people.add_person(
            database,
            email=args.email,
            name=args.name,
            team=args.team,
            role=args.role,
            now=system_clock(),
            invite_hours=settings.invite_hours,
        )
        return token

    try:
        token = _with_db(settings, work)
    except people.PersonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"One-time sign-in link for {args.name} (valid {settings.invite_hours} hours):")
    print(people.sign_in_link(settings, token))
    return 0


def cmd_user_invite(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> str | None:
        person_id = await people.person_id_by_email(database, args.email)
        if person_id is None:
            return None
        return await auth.create_invite(database, person_id, system_clock(), settings.invite_hours)

    token = _with_db(settings, work)
    if token is None:
        print(f"error: no person with e-mail {args.email}", file=sys.stderr)
        return 2
    print(people.sign_in_link(settings, token))
    return 0


def cmd_user_signout(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> int | None:
        person_id = await people.person_id_by_email(database, args.email)
        return None if person_id is None else await people.revoke_sessions(database, person_id)

    ended = _with_db(settings, work)
    if ended is None:
        print(f"error: no person with e-mail {args.email}", file=sys.stderr)
        return 2
    print(f"signed out of {ended} device(s)")
    return 0


def cmd_apikey_create(settings: config.Settings, args: argparse.Namespace) -> int:
    # Imported here: the reports room brings pandas, which no other subcommand needs.
    from server import reports

    async def work(database: db.Database) -> str | None:
        team_id = None
        if args.team:
            team_id = await database.fetch_value(
                "SELECT id FROM teams WHERE name = ?", (args.team,)
            )
            if team_id is None:
                return None
        key = await auth.create_api_key(database, args.name, team_id, system_clock())
        await reports.grant_scopes(database, key, args.scope or ["answers:write"])
        return key

    key = _with_db(settings, work)
    if key is None:
        print(f"error: no team named {args.team}", file=sys.stderr)
        return 2
    print("API key (shown only now; only its hash is stored):")
    print(key)
    return 0


def cmd_settings(_: config.Settings, __: argparse.Namespace) -> int:
    for name, default, help_text in config.describe():
        print(f"{name:<32} default {default!r:<20} {help_text}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="spiegel", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the web server").set_defaults(run=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    sub.add_parser("demo", help="load demo data, print sign-in links").set_defaults(run=cmd_demo)
    sub.add_parser("settings", help="list every setting").set_defaults(run=cmd_settings)

    user = sub.add_parser("user", help="people").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="add a person and print a one-time sign-in link")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--team", help="team name (created if new); required for staff")
    add.add_argument("--role", choices=["staff", "manager", "admin"], default="staff")
    add.set_defaults(run=cmd_user_add)
    invite = user.add_parser("invite", help="print a new one-time sign-in link for a person")
    invite.add_argument("--email", required=True)
    invite.set_defaults(run=cmd_user_invite)
    signout = user.add_parser("signout", help="sign a person out on every device")
    signout.add_argument("--email", required=True)
    signout.set_defaults(run=cmd_user_signout)

    apikey = sub.add_parser("apikey", help="API keys").add_subparsers(dest="action", required=True)
    create = apikey.add_parser("create", help="create an API key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--team", help="the key's team: its answers' default, its reports' reach")
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help="what the key may do (repeatable); default answers:write",
    )
    create.set_defaults(run=cmd_apikey_create)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run: Callable[[config.Settings, Any], int] = args.run
    return run(settings, args)


if __name__ == "__main__":
    sys.exit(main())
