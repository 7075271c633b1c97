"""Questions: their kinds, scales and texts, and who may answer which."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from server.auth import caller, signed_in
from server.callers import Principal
from server.db import Database

Kind = Literal[
    "checkin",
    "contact_self",
    "enps",
    "mirror_staff",
    "customer_csat",
    "customer_nps",
    "customer_mirror",
]

# Kinds whose answers may carry a contact reference (to pair self and customer ratings).
CONTACT_KINDS: frozenset[str] = frozenset({"contact_self", "customer_csat", "customer_nps"})


class Texts(msgspec.Struct, frozen=True):
    nl: str
    en: str


class Scale(msgspec.Struct, frozen=True):
    min: int
    max: int


class Question(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: Kind
    texts: Texts
    scale: Scale
    aspect: str | None = None
    active: bool = True


class QuestionList(msgspec.Struct, frozen=True):
    questions: list[Question]


class QuestionBook:
    """All questions in memory, so the answer path needs no query to validate; reload on edit."""

    def __init__(self) -> None:
        self.by_id: dict[int, Question] = {}

    async def reload(self, db: Database) -> None:
        rows = await db.fetch_all(
            "SELECT id, kind, text_nl, text_en, scale_min, scale_max, aspect, active"
            " FROM questions ORDER BY id"
        )
        self.by_id = {row["id"]: _question(row) for row in rows}

    def answerable(self, principal: Principal) -> list[Question]:
        return [q for q in self.by_id.values() if q.active and may_answer(principal, q)]


def may_answer(principal: Principal, question: Question) -> bool:
    """Whether this caller may answer this question (its kind, and a kiosk's or link's set)."""
    allowed = principal.questions
    return question.kind in principal.kinds and (allowed is None or question.id in allowed)


def _question(row: Any) -> Question:
    return Question(
        id=row["id"],
        kind=row["kind"],
        texts=Texts(nl=row["text_nl"], en=row["text_en"]),
        scale=Scale(min=row["scale_min"], max=row["scale_max"]),
        aspect=row["aspect"],
        active=bool(row["active"]),
    )


# --- administration: texts, faces, active, mirror rounds (server/admin/questions.py) ------

SMILEY_KINDS: frozenset[str] = frozenset(
    {"checkin", "contact_self", "mirror_staff", "customer_csat", "customer_mirror"}
)
MIRROR_KINDS: frozenset[str] = frozenset({"mirror_staff", "customer_mirror"})


class QuestionError(ValueError):
    """A question cannot be changed as asked; `field` names the form field at fault."""

    def __init__(self, message: str, field: str, code: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


async def all_questions(db: Database) -> list[Question]:
    """Every question, inactive ones too, in id order."""
    rows = await db.fetch_all(
        "SELECT id, kind, text_nl, text_en, scale_min, scale_max, aspect, active"
        " FROM questions ORDER BY id"
    )
    return [_question(row) for row in rows]


async def update_question(
    db: Database, question_id: int, text_nl: str, text_en: str, faces: int | None, active: bool,
    now: float,
) -> int:  # fmt: skip
    """Change a question's texts, faces and whether it is asked; return the id it has now.
    New faces on a question that has answers make a new question (the old one stays, not
    asked, with its answers): a stored value means what it meant on the scale it was given on."""
    text_nl, text_en = " ".join(text_nl.split()), " ".join(text_en.split())
    for field, text in (("text_nl", text_nl), ("text_en", text_en)):
        if not text:
            raise QuestionError("a text is required", field, "required")
        if len(text) > 300:
            raise QuestionError("a text has at most 300 characters", field, "too_long")
    async with db.transaction() as tx:
        row = await tx.fetch_one(
            "SELECT kind, scale_min, scale_max, aspect FROM questions WHERE id = ?",
            (question_id,),
        )
        if row is None:
            raise QuestionError("no such question", "id", "unknown")
        new_max = row["scale_max"]
        if faces is not None and row["kind"] in SMILEY_KINDS:
            if not 2 <= faces <= 5:
                raise QuestionError("2 to 5 faces", "faces", "faces")
            new_max = faces
        used = await tx.fetch_one("SELECT 1 FROM answers WHERE question_id = ? LIMIT 1",
                                  (question_id,))  # fmt: skip
        if new_max != row["scale_max"] and used:
            await tx.execute("UPDATE questions SET active = 0 WHERE id = ?", (question_id,))
            _, new_id = await tx.execute(
                "INSERT INTO questions (kind, text_nl, text_en, scale_min, scale_max, aspect,"
                " active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row["kind"], text_nl, text_en, row["scale_min"], new_max, row["aspect"],
                 1 if active else 0, int(now)),
            )  # fmt: skip
            assert new_id is not None
            return new_id
        await tx.execute(
            "UPDATE questions SET text_nl = ?, text_en = ?, scale_max = ?, active = ? WHERE id = ?",
            (text_nl, text_en, new_max, 1 if active else 0, question_id),
        )
    return question_id


class MirrorRound(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    aspects: tuple[str, ...]
    opened_at: int
    closed_at: int | None


async def mirror_rounds(db: Database) -> list[MirrorRound]:
    """Every mirror round, the newest first."""
    rows = await db.fetch_all(
        "SELECT id, aspects, opened_at, closed_at FROM mirror_rounds ORDER BY id DESC"
    )
    return [
        MirrorRound(
            id=r["id"],
            aspects=tuple(r["aspects"].split()),
            opened_at=r["opened_at"],
            closed_at=r["closed_at"],
        )
        for r in rows
    ]


async def mirror_aspects(db: Database) -> list[str]:
    """The aspects there are mirror questions for (asked of staff and of customers)."""
    rows = await db.fetch_all(
        "SELECT DISTINCT aspect FROM questions WHERE kind IN ('mirror_staff', 'customer_mirror')"
        " AND aspect IS NOT NULL ORDER BY aspect"
    )
    return [r["aspect"] for r in rows]


async def open_mirror_round(db: Database, aspects: list[str], now: float) -> int:
    """Start asking staff and customers about these aspects (closing a round still open)."""
    known = set(await mirror_aspects(db))
    chosen = sorted(set(aspects))
    if not chosen or not set(chosen) <= known:
        raise QuestionError("choose one or more aspects", "aspects", "aspects")
    marks = ", ".join("?" for _ in chosen)
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE mirror_rounds SET closed_at = ? WHERE closed_at IS NULL", (int(now),)
        )
        await tx.execute(
            "UPDATE questions SET active = CASE WHEN aspect IN (" + marks + ") THEN 1 ELSE 0 END"
            " WHERE kind IN ('mirror_staff', 'customer_mirror')",
            chosen,
        )
        _, round_id = await tx.execute(
            "INSERT INTO mirror_rounds (aspects, opened_at) VALUES (?, ?)",
            (" ".join(chosen), int(now)),
        )
    assert round_id is not None
    return round_id


async def close_mirror_round(db: Database, now: float) -> bool:
    """Stop asking the mirror questions; False if no round was open."""
    async with db.transaction() as tx:
        closed, _ = await tx.execute(
            "UPDATE mirror_rounds SET closed_at = ? WHERE closed_at IS NULL", (int(now),)
        )
        await tx.execute(
            "UPDATE questions SET active = 0 WHERE kind IN ('mirror_staff', 'customer_mirror')"
        )
    return closed > 0


# Texts of a question an import adds for a scale the organisation has no question on.
_IMPORTED = {
    "customer_csat": ("Klanttevredenheid (geïmporteerd, {low}-{high})",
                      "Customer satisfaction (imported, {low}-{high})"),
    "customer_nps": ("Aanbeveling (geïmporteerd, {low}-{high})",
                     "Recommendation (imported, {low}-{high})"),
}  # fmt: skip


async def ensure_question(db: Database, kind: Kind, low: int, high: int, now: float) -> int:
    """The question of this kind and scale that imported answers belong to: an existing one
    (active first), else a new inactive one, which no device or link then asks."""
    row = await db.fetch_one(
        "SELECT id FROM questions WHERE kind = ? AND scale_min = ? AND scale_max = ?"
        " ORDER BY active DESC, id LIMIT 1",
        (kind, low, high),
    )
    if row is not None:
        return int(row["id"])
    nl, en = _IMPORTED[kind]
    [made] = await db.write(
        "INSERT INTO questions (kind, text_nl, text_en, scale_min, scale_max, active, created_at)"
        " VALUES (?, ?, ?, ?, ?, 0, ?) RETURNING id",
        (kind, nl.format(low=low, high=high), en.format(low=low, high=high), low, high, int(now)),
    )
    return int(made[0])


@get("/api/v1/questions", guards=[signed_in], sync_to_thread=False)
def list_questions(request: Request[Any, Any, State]) -> QuestionList:
    """The active questions the caller may answer, to cache for offline use."""
    book: QuestionBook = request.app.state.questions
    return QuestionList(questions=book.answerable(caller(request)))


route_handlers = [list_questions]
