"""The `spiegel` command: each subcommand is a few lines calling the rooms."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import msgspec

from server import admin, auth, callers, config, db, demo, people
from server.clock import system_clock

T = TypeVar("T")
SCOPES = callers.SCOPES


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

    # Checked before anything else touches the file or its folder: a database the server
    # cannot open or write is one line here, not a traceback from the worker.
    if problem := db.startup_problem(settings.database):
        print(f"error: cannot use the database {settings.database}: {problem}", file=sys.stderr)
        return 2
    lock = take_server_lock(settings)
    if isinstance(lock, str):
        print(f"error: {lock}", file=sys.stderr)
        return 2
    # Granian serves from a worker process that builds the app from the same SPIEGEL_*
    # environment; migrating here first reports a broken database before the server starts.
    db.migrate(settings.database)
    setup = _with_db(settings, lambda database: admin.issue_setup_link(database, system_clock()))
    if setup:
        print("First run: this database has no administrator yet. Open this link to set up the")
        print(
            f"organisation and its first administrator (works once, for {admin.SETUP_HOURS} hours):"
        )
        print(f"  {settings.public_url}/setup/{setup}", flush=True)
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
    finally:
        lock.close()
    return 0


# --- one server per database file ------------------------------------------------------


def lock_path(database: str) -> Path:
    """The file next to the database that the serving process holds locked."""
    return Path(database).with_name(Path(database).name + ".lock")


def take_server_lock(settings: config.Settings) -> IO[str] | str:
    """Lock the database for this server, or say who holds it. Taken before listening: two
    servers on one file would each serialise writes on their own and count rate limits apart,
    and a second one on the same port is not always refused by the operating system."""
    path = lock_path(settings.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        holder = _lock_record(path)
        where = f" (pid {holder.get('pid')}, {holder.get('url')})" if holder else ""
        return f"another Spiegel server{where} already serves {settings.database}; stop it first"
    handle.seek(0)
    handle.truncate()
    record = {"pid": os.getpid(), "url": settings.public_url, "database": settings.database}
    handle.write(json.dumps(record))
    handle.flush()
    return handle


def _lock_record(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def running_server_url(database: str) -> str | None:
    """The public address of the server serving this database right now, if one is."""
    path = lock_path(database)
    if not path.exists():
        return None
    with path.open("r", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:  # held: a server runs
            url = _lock_record(path).get("url")
            return url if isinstance(url, str) and url else None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def for_links(settings: config.Settings) -> config.Settings:
    """Settings whose public_url is the address of the server that serves this database, so
    that a printed link works there: its own SPIEGEL_BASE_URL, HOST or PORT win if set."""
    if any(os.environ.get(config.PREFIX + n) for n in ("BASE_URL", "HOST", "PORT")):
        return settings
    url = running_server_url(settings.database)
    return msgspec.structs.replace(settings, base_url=url) if url else settings


def cmd_migrate(settings: config.Settings, _: argparse.Namespace) -> int:
    done = db.migrate(settings.database)
    print(f"applied: {', '.join(done)}" if done else "the database is up to date")
    return 0


def cmd_demo(settings: config.Settings, _: argparse.Namespace) -> int:
    settings = for_links(settings)

    async def work(database: db.Database) -> tuple[bool, list[tuple[str, str, str]], list[str]]:
        loaded = await demo.load(database, settings, system_clock())
        links = await demo.sign_in_links(database, settings, system_clock())
        admins = [p.email for p in await people.list_people(database) if p.role == "admin"]
        return loaded, links, admins

    loaded, links, admins = _with_db(settings, work)
    if loaded:
        print("demo data loaded")
    else:
        count, teams = _with_db(settings, people.counts)
        held = f"{_plural(count, 'person', 'people')} in {_plural(teams, 'team', 'teams')}"
        if links:  # the demo's own people are there
            print(f"demo data already present ({held}); nothing changed ({settings.database})")
        else:
            print(
                f"the database already has {held}: demo not loaded, nothing changed"
                f" ({settings.database})"
            )
    if links:
        print("Sign in as (each link works once):")
        for role, name, link in links:
            print(f"  {role:<8} {name:<24} {link}")
    else:
        print("The demo's people are not in this database. For a sign-in link, run:")
        for email in admins[:3] or ["ADDRESS"]:
            print(f"  spiegel user invite --email {email}")
    return 0


def _plural(count: int, one: str, other: str) -> str:
    return f"{count} {one if count == 1 else other}"


def _team_of(database: db.Database, name: str | None) -> Awaitable[people.TeamRow | None]:
    async def find() -> people.TeamRow | None:
        if not name or not name.strip():
            return None
        team = await people.team_by_name(database, name)
        if team is None or team.archived:
            raise people.unknown_team(name, await people.list_teams(database))
        return team

    return find()


def cmd_user_add(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> str:
        people.check_email(args.email)
        if not args.name.strip():
            raise people.PersonError("a name is required", field="name")
        await _team_of(database, args.team)
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
        if exc.field == "team" and args.team:
            print(
                f'(add a team with: spiegel team add --name "{args.team.strip()}")', file=sys.stderr
            )
        return 2
    print(f"One-time sign-in link for {args.name} (valid {settings.invite_hours} hours):")
    print(people.sign_in_link(for_links(settings), token))
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
    print(people.sign_in_link(for_links(settings), token))
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


def cmd_team_add(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> int:
        parent = await _team_of(database, args.parent)
        parent_id = parent.id if parent else None
        return await people.create_team(database, args.name, parent_id, system_clock())

    try:
        _with_db(settings, work)
    except people.PersonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"team added: {' '.join(args.name.split())}")
    return 0


def cmd_team_list(settings: config.Settings, _: argparse.Namespace) -> int:
    teams = _with_db(settings, people.list_teams)
    names = {t.id: t.name for t in teams}
    for team in teams:
        under = f"  (under {names.get(team.parent_id or 0)})" if team.parent_id else ""
        archived = "  [archived]" if team.archived else ""
        print(f"{team.name}  {team.members} people{under}{archived}")
    if not teams:
        print('no teams yet; add one with: spiegel team add --name "..."')
    return 0


def cmd_apikey_create(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> str:
        teams = [await _team_of(database, name) for name in args.team or []]
        ids = [team.id for team in teams if team is not None]
        scopes = args.scope or [callers.WRITE_SCOPE]
        return await auth.create_api_key(database, args.name, ids or None, system_clock(), scopes)

    try:
        key = _with_db(settings, work)
    except (people.PersonError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("API key (shown only now; only its hash is stored):")
    print(key)
    return 0


def cmd_apikey_list(settings: config.Settings, _: argparse.Namespace) -> int:
    keys = _with_db(settings, auth.list_api_keys)
    names = {t.id: t.name for t in _with_db(settings, people.list_teams)}
    for key in keys:
        teams = ", ".join(names.get(t, str(t)) for t in key.teams) or "any team"
        used = f"last used {_moment(key.last_used_at)}" if key.last_used_at else "never used"
        state = f"revoked {_moment(key.revoked_at)}" if key.revoked_at else used
        print(f"{key.id:>4}  {key.name}  {key.prefix}...  {' '.join(key.scopes)}  {teams}  {state}")
    if not keys:
        print("no API keys yet; make one with: spiegel apikey create --name ...")
    return 0


def _moment(at: int | None) -> str:
    from datetime import UTC, datetime

    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def cmd_apikey_revoke(settings: config.Settings, args: argparse.Namespace) -> int:
    async def work(database: db.Database) -> bool:
        return await auth.revoke_api_key(database, args.id, system_clock())

    if not _with_db(settings, work):
        print(f"error: no live API key with id {args.id} (see: apikey list)", file=sys.stderr)
        return 2
    print(f"API key {args.id} revoked: it is refused from now on")
    return 0


def cmd_link_add(settings: config.Settings, args: argparse.Namespace) -> int:
    # Imported here: the customers room brings the QR code library and the admin screens.
    from server import customers, questions

    async def work(database: db.Database) -> customers.Link:
        team = await _team_of(database, args.team)
        assert team is not None  # --team is required
        book = questions.QuestionBook()
        await book.reload(database)
        asked = customers.link_questions(book, args.smiley, not args.no_nps)
        name = args.name or team.name
        return await customers.create_link(database, name, team.id, asked, system_clock())

    try:
        made = _with_db(settings, work)
    except (people.PersonError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = customers.link_url(for_links(settings).public_url, made)
    print(f"Customer link for {made.team} (id {made.id}):")
    print(url)
    if args.qr:
        kind = "png" if args.qr.endswith(".png") else "svg"
        Path(args.qr).write_bytes(customers.qr_file(url, kind))
        print(f"QR code ({kind.upper()}, 80 mm wide for an A6 card) written to {args.qr}")
    return 0


def cmd_link_list(settings: config.Settings, _: argparse.Namespace) -> int:
    from server import customers

    links = _with_db(settings, customers.list_links)
    base = for_links(settings).public_url
    for link in links:
        state = "active" if link.active else "disabled"
        print(f"{link.id:>4}  {link.name}  {link.team}  {state}  {customers.link_url(base, link)}")
    if not links:
        print("no customer links yet; make one with: spiegel link add --team ...")
    return 0


def cmd_link_disable(settings: config.Settings, args: argparse.Namespace) -> int:
    from server import customers

    async def work(database: db.Database) -> bool:
        return await customers.set_link_disabled(database, args.id, True, system_clock())

    if not _with_db(settings, work):
        print(f"error: no link with id {args.id} (see: spiegel link list)", file=sys.stderr)
        return 2
    print(f"link {args.id} disabled: its page now says it is no longer in use")
    return 0


def cmd_import(settings: config.Settings, args: argparse.Namespace) -> int:
    from server import customers

    try:
        data = Path(args.file).read_bytes()
        scale = customers.parse_scale(args.scale)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except customers.ImportError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def work(database: db.Database) -> customers.ImportReport:
        return await customers.import_file(
            database, data, scale, settings.zone, system_clock(), dry_run=args.dry_run
        )

    # An import is one writer storing many batches: a disk sync per batch (FULL) would cost
    # more than the rows. With NORMAL, closing the database checkpoints and syncs it, so the
    # import is on disk when the command returns; a power cut before that loses batches that
    # importing the file again restores (rows are found by their content, never stored twice).
    bulk = msgspec.structs.replace(settings, db_synchronous="NORMAL")
    try:
        report = _with_db(bulk, work)
    except customers.ImportError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"line {problem.line}: {problem.reason}", file=sys.stderr)
    if report.more_problems:
        print(f"... and {report.more_problems} more invalid rows", file=sys.stderr)
    if report.problems:
        bad = len(report.problems) + report.more_problems
        print(f"error: {bad} of {report.rows} rows are invalid; nothing imported", file=sys.stderr)
        return 1
    if report.dry_run:
        print(f"{report.valid} rows valid; nothing imported (dry run)")
    else:
        print(f"{report.stored} answers imported, {report.already} already there")
    return 0


def cmd_kiosk_add(settings: config.Settings, args: argparse.Namespace) -> int:
    # Imported here, like the reports room: only this subcommand needs the QR code library.
    from server import kiosk

    async def work(database: db.Database) -> tuple[int, str]:
        team = await _team_of(database, args.team)
        form = {
            "name": args.name,
            "team": str(team.id) if team else "",
            "mode": args.mode,
            "questions": [str(q) for q in args.question or []],
            "faces": str(args.faces),
            "reasons": args.reason or kiosk.default_reasons(args.mode),
            "pin": args.pin,
        }
        return await kiosk.add_with_code(database, form, system_clock())

    try:
        _, code = _with_db(settings, work)
    except (people.PersonError, kiosk.KioskError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_pairing(for_links(settings), args.name, code)
    return 0


def cmd_kiosk_code(settings: config.Settings, args: argparse.Namespace) -> int:
    from server import kiosk

    async def work(database: db.Database) -> str | None:
        found = await kiosk.kiosk_by_name(database, args.name)
        if found is None:
            return None
        return await kiosk.new_pairing_code(database, found.id, system_clock())

    code = _with_db(settings, work)
    if code is None:
        print(f"error: no kiosk named {args.name!r}", file=sys.stderr)
        return 2
    _print_pairing(for_links(settings), args.name, code)
    return 0


def _print_pairing(settings: config.Settings, name: str, code: str) -> None:
    from server import kiosk

    url = kiosk.pair_url(settings, code)
    print(f"Pairing code for kiosk {name!r} (works once, for {kiosk.CODE_MINUTES} minutes):")
    print(f"  {kiosk.shown_code(code)}")
    print(f"On the tablet open {url} (or scan this QR code):")
    kiosk.print_qr(url)


def cmd_settings(settings: config.Settings, _: argparse.Namespace) -> int:
    org = admin.organisation_of_file(settings.database)
    settings = admin.effective(settings, org)
    origin = {**config.sources(), **admin.organisation_sources(org)}
    helps = {name: help_text for name, _, help_text in config.describe()}
    for field in config.Settings.__struct_fields__:
        name = config.PREFIX + field.upper()
        value = getattr(settings, field)
        shown = str(value) if isinstance(value, config.Secret) else repr(value)
        if field == "base_url" and not value:
            shown = f"'' (links use {settings.public_url})"
        print(f"{name:<32} {shown:<28} from {origin[field]:<12} {helps[name]}")
    return 0


DESCRIPTION = """Run and look after a Spiegel server from the terminal.

Every command works on the same database as the server: SPIEGEL_DATABASE if set, else
.data/spiegel.db in the Spiegel folder (the one `make run` uses). Sign-in links point at the
server that is running on that database. Most of this is also in the web app, under Admin."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="spiegel", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "serve",
        help="start the web app (one per database; prints a setup link on first run)",
    ).set_defaults(run=cmd_serve)
    sub.add_parser(
        "migrate", help="bring the database up to date after an upgrade (serve does it too)"
    ).set_defaults(run=cmd_migrate)
    sub.add_parser(
        "demo", help="fill an empty database with a demo organisation and print sign-in links"
    ).set_defaults(run=cmd_demo)
    sub.add_parser(
        "settings", help="show every setting: the value in effect and where it comes from"
    ).set_defaults(run=cmd_settings)

    team = sub.add_parser("team", help="teams: add, list")
    teams = team.add_subparsers(dest="action", required=True, metavar="ACTION")
    team_add = teams.add_parser("add", help="add a team")
    team_add.add_argument("--name", required=True, help="the team's name, as people know it")
    team_add.add_argument("--parent", help="the team it belongs under (optional)")
    team_add.set_defaults(run=cmd_team_add)
    teams.add_parser("list", help="list the teams").set_defaults(run=cmd_team_list)

    user = sub.add_parser("user", help="people: add, new sign-in link, sign out everywhere")
    users = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = users.add_parser("add", help="add a person and print their one-time sign-in link")
    add.add_argument("--email", required=True, help="their e-mail address (their user name)")
    add.add_argument("--name", required=True, help="their name, as colleagues know it")
    add.add_argument(
        "--team",
        help="an existing team (see: spiegel team list); staff answer for it, a manager "
        "manages it; required for staff",
    )
    add.add_argument(
        "--role",
        choices=["staff", "manager", "admin"],
        default="staff",
        help="staff answer questions; managers see their teams' figures; admins run it all",
    )
    add.set_defaults(run=cmd_user_add)
    invite = users.add_parser("invite", help="print a new one-time sign-in link for a person")
    invite.add_argument("--email", required=True)
    invite.set_defaults(run=cmd_user_invite)
    signout = users.add_parser("signout", help="sign a person out on every device")
    signout.add_argument("--email", required=True)
    signout.set_defaults(run=cmd_user_signout)

    apikey = sub.add_parser("apikey", help="keys for other systems that send customer ratings")
    keys = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = keys.add_parser("create", help="create an API key and print it once")
    create.add_argument("--name", required=True, help="what the key is for, e.g. the system")
    create.add_argument(
        "--team",
        action="append",
        help="an existing team (repeatable): the teams its ratings may go to and whose reports "
        "it may read; without --team, any team",
    )
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help="what the key may do (repeatable); default answers:write",
    )
    create.set_defaults(run=cmd_apikey_create)
    keys.add_parser("list", help="list the keys, their teams and last use").set_defaults(
        run=cmd_apikey_list
    )
    revoke = keys.add_parser("revoke", help="revoke a key for good (see apikey list for ids)")
    revoke.add_argument("--id", type=int, required=True)
    revoke.set_defaults(run=cmd_apikey_revoke)

    link = sub.add_parser("link", help="customer links and QR codes: add, list, disable")
    links = link.add_subparsers(dest="action", required=True, metavar="ACTION")
    link_add = links.add_parser("add", help="make a link (/c/...) customers answer on their phone")
    link_add.add_argument("--team", required=True, help="the team its answers count for")
    link_add.add_argument("--name", help="where it is used, e.g. 'receipts' (default: the team)")
    link_add.add_argument("--smiley", type=int, help="the smiley question's id (default: CSAT)")
    link_add.add_argument("--no-nps", action="store_true", help="ask no NPS after the smiley")
    link_add.add_argument("--qr", metavar="FILE", help="also write its QR code (.svg or .png)")
    link_add.set_defaults(run=cmd_link_add)
    links.add_parser("list", help="list the links").set_defaults(run=cmd_link_list)
    link_disable = links.add_parser("disable", help="stop a link; its page says so")
    link_disable.add_argument("--id", type=int, required=True)
    link_disable.set_defaults(run=cmd_link_disable)

    importing = sub.add_parser(
        "import", help="import customer scores (CSAT, NPS) from a CSV file: all rows or none"
    )
    importing.add_argument("file", help="CSV with date, team, kind, score[, contact_ref, comment]")
    importing.add_argument("--dry-run", action="store_true", help="check every row, store nothing")
    importing.add_argument("--scale", default="1-5", help="the CSAT scale (default 1-5)")
    importing.set_defaults(run=cmd_import)

    kiosk = sub.add_parser("kiosk", help="shared tablets: add one, new pairing code")
    kiosks = kiosk.add_subparsers(dest="action", required=True, metavar="ACTION")
    kiosk_add = kiosks.add_parser("add", help="add a kiosk and print its pairing code")
    kiosk_add.add_argument("--name", required=True, help="where it stands, e.g. 'Shop floor'")
    kiosk_add.add_argument("--team", required=True, help="the team its answers count for")
    kiosk_add.add_argument(
        "--mode",
        choices=["staff", "customer"],
        default="staff",
        help="staff: anonymous check-in; customer: customer ratings",
    )
    kiosk_add.add_argument(
        "--question",
        type=int,
        action="append",
        help="a question id it asks (repeatable); default the check-in or customer satisfaction",
    )
    kiosk_add.add_argument(
        "--faces", type=int, default=4, help="faces in customer mode, 2 to 5 (default 4)"
    )
    kiosk_add.add_argument(
        "--reason", action="append", help="a follow-up reason in customer mode (4 to 6)"
    )
    kiosk_add.add_argument(
        "--pin", required=True, help="4 to 8 digits that open the kiosk's own settings"
    )
    kiosk_add.set_defaults(run=cmd_kiosk_add)
    kiosk_code = kiosks.add_parser("code", help="print a new pairing code for a kiosk")
    kiosk_code.add_argument("--name", required=True, help="the kiosk's name")
    kiosk_code.set_defaults(run=cmd_kiosk_code)
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
