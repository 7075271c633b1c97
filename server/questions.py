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


@get("/api/v1/questions", guards=[signed_in], sync_to_thread=False)
def list_questions(request: Request[Any, Any, State]) -> QuestionList:
    """The active questions the caller may answer, to cache for offline use."""
    book: QuestionBook = request.app.state.questions
    return QuestionList(questions=book.answerable(caller(request)))


route_handlers = [list_questions]
