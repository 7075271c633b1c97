"""The kiosks themselves: their settings as an admin gives them, validated, stored and read."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, cast

import msgspec
from litestar.exceptions import NotFoundException

from server import answers, i18n, people
from server.callers import KIOSK_KINDS, KioskMode
from server.db import Database
from server.questions import Question, QuestionBook

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


def default_reasons(mode: str, language: str = "en") -> list[str]:
    """The follow-up reasons a customer kiosk gets when none are given."""
    if mode != "customer":
        return []
    return i18n.translator(language)("kiosk.admin.reasons_default").splitlines()
