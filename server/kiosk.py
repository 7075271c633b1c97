"""Kiosks: shared tablets paired once with a short code, their device tokens and heartbeats,
and the admin page that creates, lists, renames, moves and revokes them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Annotated, Any, cast

import msgspec
import segno
from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from server import answers, i18n, people
from server.admin import SECTIONS, Section, admin_only
from server.auth import client_address, hash_token, principal_of, signed_in
from server.callers import KIOSK_KINDS, KIOSK_TOKEN_PREFIX, KioskMode, Principal, kiosk
from server.config import Settings
from server.db import Database, instance_secret
from server.deps import Ctx
from server.questions import Question, QuestionBook

# Crockford's base 32: no I, L, O or U, so what is read aloud or typed is what was meant;
# 8 characters are 40 bits. Typing O for 0 and I or L for 1 is forgiven.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
CODE_MINUTES = 15
_CODE_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
# A pairing code has only 40 bits: hashed slowly, with a salt of this server's own, so that a
# copy of the database does not give away a live code (OWASP ASVS: short secrets need a
# slow hash). One hash per attempt, off the event loop.
CODE_ITERATIONS = 50_000
# Wrong, expired or used codes tried within the window: at most this many from one address,
# and this many from all addresses together (which bounds guessing any live code).
PAIR_WINDOW_SECONDS = 15 * 60
PAIR_TRIES_PER_ADDRESS = 20
PAIR_TRIES_ALL = 200

TOKEN_PREFIX = KIOSK_TOKEN_PREFIX
PIN_ITERATIONS = 100_000
MAX_NAME = 80
MAX_QUESTIONS = 5
MIN_REASONS, MAX_REASONS, MAX_REASON_LENGTH = 4, 6, 40
DEFAULT_FACES = 4
PRECHECK_KINDS = frozenset({"checkin", "customer_csat"})  # ticked on a new kiosk's form


class KioskError(ValueError):
    """A kiosk's settings that cannot be stored: the field, and the message's catalogue key."""

    def __init__(self, field: str, key: str, **values: object) -> None:
        super().__init__(i18n.translator("en")(key, **values))
        self.field, self.key, self.values = field, key, values


class PairRefused(Exception):
    """A pairing attempt that failed: wrong, expired, used or throttled."""

    def __init__(self, reason: str, retry_after: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class KioskSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A kiosk's settings as an admin gives them, validated."""

    name: str
    team_id: int
    mode: KioskMode
    questions: tuple[int, ...]
    faces: int = DEFAULT_FACES
    reasons: tuple[str, ...] = ()
    pin: str


class KioskRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    team_id: int
    team: str
    mode: KioskMode
    questions: tuple[int, ...]
    faces: int
    reasons: tuple[str, ...]
    paired: bool
    revoked: bool
    last_seen_at: int | None
    queued: int | None
    release: str | None
    answers_today: int = 0


class PinCheck(msgspec.Struct, frozen=True):
    """What the tablet needs to check its settings PIN offline (PBKDF2-SHA256, hex)."""

    salt: str
    hash: str
    iterations: int


class KioskConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What a paired tablet shows and asks; it keeps a copy for days offline."""

    id: int
    name: str
    team: str
    mode: KioskMode
    questions: list[int]
    faces: int
    reasons: list[str]
    pin: PinCheck


class PairIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=64)]


class Paired(msgspec.Struct, frozen=True):
    token: str
    kiosk: KioskConfig


class HeartbeatIn(msgspec.Struct, forbid_unknown_fields=True):
    queued: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
    release: Annotated[str, msgspec.Meta(max_length=64)] = ""


# --- codes, tokens and PINs --------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(typed: str) -> str | None:
    """The code as issued from what was typed (any case, spaces, dashes), or None."""
    code = "".join(ch for ch in typed.upper() if ch not in " -\t").translate(_CODE_TYPOS)
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def shown_code(code: str) -> str:
    """Two groups of four, easier to read out and type."""
    return f"{code[:4]}-{code[4:]}"


_salts: dict[str, bytes] = {}


async def _code_hash(db: Database, code: str) -> str:
    salt = _salts.get(db.path)
    if salt is None:
        salt = (await asyncio.to_thread(instance_secret, db.path, "kiosk-pairing")).encode()
        _salts[db.path] = salt
    digest = await asyncio.to_thread(
        hashlib.pbkdf2_hmac, "sha256", code.encode(), salt, CODE_ITERATIONS
    )
    return digest.hex()


def pin_hash(pin: str, salt: str, iterations: int = PIN_ITERATIONS) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), iterations).hex()


def pin_matches(pin: str, salt: str, stored: str) -> bool:
    return hmac.compare_digest(pin_hash(pin, salt), stored)


# --- validation --------------------------------------------------------------------------


async def check_spec(
    db: Database, book: QuestionBook, form: dict[str, Any]
) -> tuple[KioskSpec | None, dict[str, KioskError]]:
    """The kiosk an admin asked for, or the mistakes, one per field."""
    errors: dict[str, KioskError] = {}

    def fail(error: KioskError) -> None:
        errors.setdefault(error.field, error)

    name = " ".join(str(form.get("name") or "").split())
    if not name or len(name) > MAX_NAME:
        fail(KioskError("name", "kiosk.error.name", max=MAX_NAME))
    team_id = await _team_id(db, form.get("team"), fail)
    mode = _mode(form.get("mode"))
    if mode is None:
        fail(KioskError("mode", "kiosk.error.mode"))
        mode = "staff"
    faces = _int(form.get("faces"), DEFAULT_FACES)
    if faces is None or not 2 <= faces <= 5:
        fail(KioskError("faces", "kiosk.error.faces"))
        faces = DEFAULT_FACES
    # The page has a list of questions per mode; the mode chosen says which list counts.
    chosen = form.get(f"questions_{mode}", form.get("questions"))
    questions = _questions(book, chosen, mode, faces, fail)
    reasons = _reasons(form.get("reasons"), mode, fail)
    pin = str(form.get("pin") or "").strip()
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        fail(KioskError("pin", "kiosk.error.pin"))
    if errors or team_id is None:
        return None, errors
    spec = KioskSpec(
        name=name,
        team_id=team_id,
        mode=mode,
        questions=questions,
        faces=faces if mode == "customer" else DEFAULT_FACES,
        reasons=reasons,
        pin=pin,
    )
    return spec, errors


def _mode(value: Any) -> KioskMode | None:
    text = str(value or "")
    return cast("KioskMode", text) if text in KIOSK_KINDS else None


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        return None


async def _team_id(db: Database, value: Any, fail: Any) -> int | None:
    team_id = _int(value)
    team = await people.team_by_id(db, team_id) if team_id else None
    if team is None or team.archived:
        fail(KioskError("team", "kiosk.error.team"))
        return None
    return team.id


def _questions(
    book: QuestionBook, value: Any, mode: KioskMode, faces: int, fail: Any
) -> tuple[int, ...]:
    wanted = value if isinstance(value, list) else [value] if value else []
    ids = [_int(each) for each in wanted]
    chosen: list[Question] = []
    for question_id in ids:
        question = book.by_id.get(question_id) if question_id is not None else None
        if question is None or not question.active:
            fail(KioskError("questions", "kiosk.error.question_unknown"))
        elif question.kind not in KIOSK_KINDS[mode]:
            fail(KioskError("questions", f"kiosk.error.question_{mode}"))
        elif question not in chosen:
            chosen.append(question)
    if not chosen or len(chosen) > MAX_QUESTIONS:
        fail(KioskError("questions", "kiosk.error.questions", max=MAX_QUESTIONS))
    for question in chosen:
        # Faces on the screen are the values stored: a 5-face kiosk needs 5-face questions.
        count = question.scale.max - question.scale.min + 1
        if mode == "customer" and question.scale.min == 1 and count != faces:
            fail(KioskError("faces", "kiosk.error.faces_question", faces=faces, n=count))
    return tuple(q.id for q in chosen)


def _reasons(value: Any, mode: str, fail: Any) -> tuple[str, ...]:
    lines = value if isinstance(value, list) else str(value or "").splitlines()
    reasons: list[str] = []
    for line in lines:
        text = " ".join(str(line).split())
        if text and text.casefold() not in {r.casefold() for r in reasons}:
            reasons.append(text)
    if mode != "customer":
        return ()
    if not MIN_REASONS <= len(reasons) <= MAX_REASONS or any(
        len(r) > MAX_REASON_LENGTH for r in reasons
    ):
        fail(
            KioskError(
                "reasons",
                "kiosk.error.reasons",
                min=MIN_REASONS,
                max=MAX_REASONS,
                length=MAX_REASON_LENGTH,
            )
        )
    return tuple(reasons)


# --- the kiosks table -------------------------------------------------------------------


async def add_with_code(db: Database, form: dict[str, Any], now: float) -> tuple[int, str]:
    """Create a kiosk from form-like settings and give its first pairing code (the CLI's
    way in); raises the first KioskError if the settings cannot be stored."""
    book = QuestionBook()
    await book.reload(db)
    if not form.get("questions"):
        form = {**form, "questions": _default_questions(book, _mode(form.get("mode")))}
    spec, errors = await check_spec(db, book, form)
    if spec is None:
        raise next(iter(errors.values()))
    kiosk_id = await create_kiosk(db, spec, now)
    return kiosk_id, await new_pairing_code(db, kiosk_id, now)


def _default_questions(book: QuestionBook, mode: KioskMode | None) -> list[str]:
    kinds = KIOSK_KINDS[mode] if mode else frozenset()
    return [str(q.id) for q in book.by_id.values() if q.active and q.kind in PRECHECK_KINDS & kinds]


async def kiosk_by_name(db: Database, name: str) -> KioskRow | None:
    row = await db.fetch_one(
        f"SELECT {_KIOSK_COLUMNS} WHERE k.name = ? ORDER BY k.id DESC", (" ".join(name.split()),)
    )
    return None if row is None else _kiosk_row(row)


async def create_kiosk(db: Database, spec: KioskSpec, now: float) -> int:
    salt = secrets.token_hex(16)
    async with db.transaction() as tx:
        _, kiosk_id = await tx.execute(
            "INSERT INTO kiosks (name, team_id, mode, questions, faces, reasons, pin_salt,"
            " pin_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                spec.name,
                spec.team_id,
                spec.mode,
                " ".join(str(q) for q in spec.questions),
                spec.faces,
                "\n".join(spec.reasons),
                salt,
                pin_hash(spec.pin, salt),
                int(now),
            ),
        )
    assert kiosk_id is not None
    return kiosk_id


_KIOSK_COLUMNS = (
    "k.id, k.name, k.team_id, t.name AS team, k.mode, k.questions, k.faces, k.reasons,"
    " k.token_hash, k.revoked_at, k.last_seen_at, k.queued, k.app_release,"
    " k.pin_salt, k.pin_hash FROM kiosks k JOIN teams t ON t.id = k.team_id"
)


def _kiosk_row(row: Any, answers_today: int = 0) -> KioskRow:
    return KioskRow(
        id=row["id"],
        name=row["name"],
        team_id=row["team_id"],
        team=row["team"],
        mode=row["mode"],
        questions=tuple(int(q) for q in row["questions"].split()),
        faces=row["faces"],
        reasons=tuple(r for r in row["reasons"].split("\n") if r),
        paired=row["token_hash"] is not None and row["revoked_at"] is None,
        revoked=row["revoked_at"] is not None,
        last_seen_at=row["last_seen_at"],
        queued=row["queued"],
        release=row["app_release"],
        answers_today=answers_today,
    )


async def get_kiosk(db: Database, kiosk_id: int) -> KioskRow | None:
    row = await db.fetch_one(f"SELECT {_KIOSK_COLUMNS} WHERE k.id = ?", (kiosk_id,))
    return None if row is None else _kiosk_row(row)


async def list_kiosks(db: Database, since: int) -> list[KioskRow]:
    """Every kiosk, with the answers it sent that were given since `since` (start of today)."""
    rows = await db.fetch_all(f"SELECT {_KIOSK_COLUMNS} ORDER BY k.name, k.id")
    counts = await answers.count_by_kiosk(db, since)
    return [_kiosk_row(row, counts.get(row["id"], 0)) for row in rows]


async def config_of(db: Database, kiosk_id: int) -> KioskConfig:
    row = await db.fetch_one(f"SELECT {_KIOSK_COLUMNS} WHERE k.id = ?", (kiosk_id,))
    if row is None:
        raise NotFoundException(detail="This kiosk no longer exists.")
    found = _kiosk_row(row)
    return KioskConfig(
        id=found.id,
        name=found.name,
        team=found.team,
        mode=found.mode,
        questions=list(found.questions),
        faces=found.faces,
        reasons=list(found.reasons),
        pin=PinCheck(salt=row["pin_salt"], hash=row["pin_hash"], iterations=PIN_ITERATIONS),
    )


async def update_kiosk(db: Database, kiosk_id: int, name: str, team_id: int) -> None:
    """Rename or move a kiosk: answers it sends from now on (queued ones too) go to the team."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE kiosks SET name = ?, team_id = ? WHERE id = ?", (name, team_id, kiosk_id)
        )


async def revoke(db: Database, kiosk_id: int, now: float) -> None:
    """The device token stops working at once; its codes too. The record and answers stay."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE kiosks SET token_hash = NULL, revoked_at = ? WHERE id = ?",
            (int(now), kiosk_id),
        )
        await tx.execute(
            "DELETE FROM kiosk_pairing_codes WHERE kiosk_id = ? AND used_at IS NULL", (kiosk_id,)
        )


async def principal_for_token(db: Database, token: str) -> Principal | None:
    """The kiosk a device token belongs to, if it is paired and not revoked."""
    row = await db.fetch_one(
        "SELECT id, name, team_id, mode, questions FROM kiosks"
        " WHERE token_hash = ? AND revoked_at IS NULL",
        (hash_token(token),),
    )
    if row is None:
        return None
    questions = frozenset(int(q) for q in row["questions"].split())
    return kiosk(row["id"], row["name"], row["team_id"], row["mode"], questions)


async def record_heartbeat(
    db: Database, kiosk_id: int, queued: int, release: str, now: float
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE kiosks SET last_seen_at = ?, queued = ?, app_release = ? WHERE id = ?",
            (int(now), queued, release or None, kiosk_id),
        )


# --- pairing -----------------------------------------------------------------------------


async def new_pairing_code(db: Database, kiosk_id: int, now: float) -> str:
    """A one-time code for this kiosk, valid CODE_MINUTES; its earlier unused codes end."""
    code = new_code()
    digest = await _code_hash(db, code)
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM kiosk_pairing_codes WHERE kiosk_id = ? AND used_at IS NULL", (kiosk_id,)
        )
        await tx.execute(
            "INSERT INTO kiosk_pairing_codes (code_hash, kiosk_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (digest, kiosk_id, int(now), int(now) + CODE_MINUTES * 60),
        )
    return code


async def pair(db: Database, typed: str, address: str, now: float) -> tuple[str, int]:
    """Use a pairing code once: a new device token for its kiosk, and the kiosk's id. Pairing
    a kiosk again (a new code for the same kiosk) keeps its id, so answers the tablet queued
    under the old token are sent and stored as that kiosk's; the old token stops working."""
    wait = await _throttled(db, address, now)
    if wait:
        raise PairRefused("throttled", wait)
    code = normal_code(typed)
    row = None
    if code is not None:
        digest = await _code_hash(db, code)
        row = await db.fetch_one(
            "SELECT kiosk_id, expires_at, used_at FROM kiosk_pairing_codes WHERE code_hash = ?",
            (digest,),
        )
    if row is None or row["used_at"] is not None or row["expires_at"] <= now:
        reason = "wrong" if row is None else "used" if row["used_at"] is not None else "expired"
        await _failed(db, address, now)
        raise PairRefused(reason)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as tx:
        used, _ = await tx.execute(
            "UPDATE kiosk_pairing_codes SET used_at = ?"
            " WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            (int(now), digest, int(now)),
        )
        if used == 1:
            await tx.execute(
                "UPDATE kiosks SET token_hash = ?, paired_at = ?, revoked_at = NULL,"
                " last_seen_at = ? WHERE id = ?",
                (hash_token(token), int(now), int(now), row["kiosk_id"]),
            )
    if used != 1:  # another tablet used it a moment ago
        await _failed(db, address, now)
        raise PairRefused("used")
    return token, int(row["kiosk_id"])


async def _throttled(db: Database, address: str, now: float) -> int:
    """Seconds until this address may try again (0: now)."""
    since = int(now) - PAIR_WINDOW_SECONDS
    mine = await db.fetch_one(
        "SELECT COUNT(*) AS n, MIN(at) AS first FROM kiosk_pairing_failures"
        " WHERE address = ? AND at > ?",
        (address, since),
    )
    everyone = await db.fetch_one(
        "SELECT COUNT(*) AS n, MIN(at) AS first FROM kiosk_pairing_failures WHERE at > ?",
        (since,),
    )
    waits = [
        int(found["first"]) + PAIR_WINDOW_SECONDS - int(now)
        for found, limit in ((mine, PAIR_TRIES_PER_ADDRESS), (everyone, PAIR_TRIES_ALL))
        if found is not None and found["n"] >= limit
    ]
    return max([1, *waits]) if waits else 0


async def _failed(db: Database, address: str, now: float) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM kiosk_pairing_failures WHERE at <= ?", (int(now) - PAIR_WINDOW_SECONDS,)
        )
        await tx.execute(
            "INSERT INTO kiosk_pairing_failures (at, address) VALUES (?, ?)",
            (int(now), address[:100]),
        )


def pair_url(settings: Settings, code: str) -> str:
    return f"{settings.public_url}/kiosk/pair?code={code}"


def print_qr(url: str) -> None:
    """The pairing link as a QR code in the terminal, for `spiegel kiosk add`."""
    segno.make(url, error="m").terminal(compact=True)


def default_reasons(mode: str, language: str = "en") -> list[str]:
    """The follow-up reasons a customer kiosk gets when none are given."""
    if mode != "customer":
        return []
    return i18n.translator(language)("kiosk.admin.reasons_default").splitlines()


def qr_svg(url: str) -> str:
    """The pairing link as an inline SVG QR code (segno: pure Python, no image library)."""
    return str(segno.make(url, error="m").svg_inline(scale=5, border=2, dark="#1a1f26"))


# --- the tablet's API --------------------------------------------------------------------


async def kiosk_only(connection: ASGIConnection[Any, Any, Any, Any], h: BaseRouteHandler) -> None:
    """A paired kiosk with its device token; 401 for an unknown or revoked one."""
    await signed_in(connection, h)
    principal = principal_of(connection)
    if principal is None or principal.kiosk_id is None:
        raise NotAuthorizedException(detail="This needs a paired kiosk's device token.")


def _kiosk_id(request: Request[Any, Any, Any]) -> int:
    principal = principal_of(request)
    assert principal is not None and principal.kiosk_id is not None  # kiosk_only has run
    return principal.kiosk_id


def _refusal(request: Request[Any, Any, Any], refused: PairRefused) -> Response[Any]:
    status = 429 if refused.reason == "throttled" else 400
    minutes = max(1, -(-refused.retry_after // 60))
    detail = i18n.translator("en")(f"kiosk.pair.{refused.reason}", minutes=minutes)
    body: dict[str, Any] = {"status_code": status, "detail": detail, "reason": refused.reason}
    if refused.retry_after:
        body["retry_after"] = refused.retry_after
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
    return Response(body, status_code=status, headers=headers, media_type=MediaType.JSON)


@post("/api/v1/kiosk/pair", status_code=200)
async def pair_device(
    data: JSONBody[PairIn], request: Request[Any, Any, State], ctx: Ctx
) -> Response[Any]:
    """Pair this tablet with a one-time code; 400 wrong, expired or used, 429 too many tries."""
    try:
        token, kiosk_id = await pair(ctx.db, data.code, client_address(request), ctx.clock())
    except PairRefused as refused:
        return _refusal(request, refused)
    paired = Paired(token=token, kiosk=await config_of(ctx.db, kiosk_id))
    return Response(paired, headers={"Cache-Control": "no-store"})


@get("/api/v1/kiosk", guards=[kiosk_only])
async def own_config(request: Request[Any, Any, State], ctx: Ctx) -> KioskConfig:
    """The calling kiosk's settings."""
    return await config_of(ctx.db, _kiosk_id(request))


@post("/api/v1/kiosk/heartbeat", guards=[kiosk_only], status_code=200)
async def heartbeat(
    data: JSONBody[HeartbeatIn], request: Request[Any, Any, State], ctx: Ctx
) -> KioskConfig:
    """The tablet is alive: its queue and release, for the admin page; its settings back."""
    kiosk_id = _kiosk_id(request)
    await record_heartbeat(ctx.db, kiosk_id, data.queued, data.release, ctx.clock())
    return await config_of(ctx.db, kiosk_id)


@post("/api/v1/kiosk/unpair", guards=[kiosk_only], status_code=204)
async def unpair(request: Request[Any, Any, State], ctx: Ctx) -> None:
    """The tablet gives its token up (from its own settings, behind the PIN)."""
    await revoke(ctx.db, _kiosk_id(request), ctx.clock())


# --- the admin page ----------------------------------------------------------------------

NO_STORE = {"Cache-Control": "no-store"}
SECTIONS.append(Section("/admin/kiosks", "kiosk.admin.title", "kiosk.admin.section"))


def _admin_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the admin area's layout shows around a page: who is signed in, and the nav."""
    return {"who": principal_of(request), "section": "kiosks", "href": lambda path: path}


def _start_of_today(ctx: Any) -> int:
    today = datetime.fromtimestamp(ctx.clock(), ctx.settings.zone).date()
    return int(datetime(today.year, today.month, today.day, tzinfo=ctx.settings.zone).timestamp())


def _when(ctx: Any) -> Any:
    def when(at: int | None) -> str:
        if at is None:
            return "\N{EN DASH}"
        return datetime.fromtimestamp(at, ctx.settings.zone).strftime("%Y-%m-%d %H:%M")

    return when


async def _form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    form = await request.form()
    return {k: form.getall(k) if k.startswith("questions") else form.get(k) for k in form}


async def _list_page(
    request: Request[Any, Any, Any],
    ctx: Any,
    form: dict[str, Any] | None = None,
    errors: dict[str, KioskError] | None = None,
) -> Template:
    book: QuestionBook = request.app.state.questions
    active = [q for q in book.by_id.values() if q.active]
    questions = {m: [q for q in active if q.kind in kinds] for m, kinds in KIOSK_KINDS.items()}
    context = {
        **_admin_context(request),
        "kiosks": await list_kiosks(ctx.db, _start_of_today(ctx)),
        "teams": [t for t in await people.list_teams(ctx.db) if not t.archived],
        "questions": questions,
        "form": form or _new_form(active),
        "errors": errors or {},
        "when": _when(ctx),
    }
    status = 400 if errors else 200
    return Template("admin/kiosks.html", context=context, status_code=status, headers=NO_STORE)


def _new_form(questions: list[Question]) -> dict[str, Any]:
    form: dict[str, Any] = {"mode": "staff", "faces": str(DEFAULT_FACES)}
    for mode, kinds in KIOSK_KINDS.items():
        ticked = [q for q in questions if q.kind in kinds & PRECHECK_KINDS]
        form[f"questions_{mode}"] = [str(q.id) for q in ticked]
    return form


def _code_page(
    request: Request[Any, Any, Any], ctx: Any, found: KioskRow, code: str, created: bool
) -> Template:
    url = pair_url(ctx.settings, code)
    context = {
        **_admin_context(request),
        "kiosk": found,
        "code": shown_code(code),
        "url": url,
        "qr": qr_svg(url),
        "minutes": CODE_MINUTES,
        "created": created,
    }
    return Template("admin/kiosks_code.html", context=context, headers=NO_STORE)


@get("/admin/kiosks", guards=[admin_only], include_in_schema=False)
async def kiosks_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Every kiosk with its last heartbeat, and the form for a new one."""
    return await _list_page(request, ctx)


@post("/admin/kiosks", guards=[admin_only], include_in_schema=False)
async def add_kiosk(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Create a kiosk and show its first pairing code; a mistake shows the form again."""
    form = await _form(request)
    spec, errors = await check_spec(ctx.db, request.app.state.questions, form)
    if spec is None:
        return await _list_page(request, ctx, form, errors)
    kiosk_id = await create_kiosk(ctx.db, spec, ctx.clock())
    code = await new_pairing_code(ctx.db, kiosk_id, ctx.clock())
    found = await _existing(ctx.db, kiosk_id)
    return _code_page(request, ctx, found, code, created=True)


async def _existing(db: Database, kiosk_id: int) -> KioskRow:
    found = await get_kiosk(db, kiosk_id)
    if found is None:
        raise NotFoundException(detail="No such kiosk.")
    return found


@post("/admin/kiosks/{kiosk_id:int}/code", guards=[admin_only], include_in_schema=False)
async def pairing_code(
    kiosk_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Template:
    """A new pairing code for a kiosk: to pair a new tablet, or the same one again."""
    found = await _existing(ctx.db, kiosk_id)
    code = await new_pairing_code(ctx.db, kiosk_id, ctx.clock())
    return _code_page(request, ctx, found, code, created=False)


@get("/admin/kiosks/{kiosk_id:int}", guards=[admin_only], include_in_schema=False)
async def kiosk_page(
    kiosk_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Template:
    """One kiosk: rename it, move it to another team, give a new code, or revoke it."""
    found = await _existing(ctx.db, kiosk_id)
    form = {"name": found.name, "team": str(found.team_id)}
    return await _edit_page(request, ctx, found, form, {})


async def _edit_page(
    request: Request[Any, Any, Any],
    ctx: Any,
    found: KioskRow,
    form: dict[str, Any],
    errors: dict[str, KioskError],
) -> Template:
    context = {
        **_admin_context(request),
        "kiosk": found,
        "teams": [t for t in await people.list_teams(ctx.db) if not t.archived],
        "form": form,
        "errors": errors,
    }
    status = 400 if errors else 200
    return Template("admin/kiosks_edit.html", context=context, status_code=status, headers=NO_STORE)


@post("/admin/kiosks/{kiosk_id:int}", guards=[admin_only], include_in_schema=False)
async def change_kiosk(
    kiosk_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    """Save a new name or team; back to the list."""
    found = await _existing(ctx.db, kiosk_id)
    form = await _form(request)
    errors: dict[str, KioskError] = {}
    name = " ".join(str(form.get("name") or "").split())
    if not name or len(name) > MAX_NAME:
        errors["name"] = KioskError("name", "kiosk.error.name", max=MAX_NAME)
    team_id = await _team_id(ctx.db, form.get("team"), lambda e: errors.setdefault(e.field, e))
    if errors or team_id is None:
        return await _edit_page(request, ctx, found, form, errors)
    await update_kiosk(ctx.db, kiosk_id, name, team_id)
    return Redirect("/admin/kiosks", status_code=303)


@post("/admin/kiosks/{kiosk_id:int}/revoke", guards=[admin_only], include_in_schema=False)
async def revoke_kiosk(kiosk_id: FromPath[int], ctx: Ctx) -> Redirect:
    """Revoke a kiosk's device token; the tablet keeps its queued answers and says so."""
    await _existing(ctx.db, kiosk_id)
    await revoke(ctx.db, kiosk_id, ctx.clock())
    return Redirect("/admin/kiosks", status_code=303)


route_handlers = [
    pair_device,
    own_config,
    heartbeat,
    unpair,
    kiosks_page,
    add_kiosk,
    pairing_code,
    kiosk_page,
    change_kiosk,
    revoke_kiosk,
]
