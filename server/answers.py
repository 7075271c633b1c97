"""Answers: the batch endpoint every client posts to, its validation, and exactly-once storage."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from weakref import WeakKeyDictionary

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, JSONBody

from server.auth import caller, person_only, same_origin_json, signed_in
from server.callers import CUSTOMER_KINDS, Principal, Source
from server.clock import utc
from server.config import Settings
from server.db import Database, StoreUnavailable, Writer
from server.deps import Ctx
from server.questions import CONTACT_KINDS, Question, QuestionBook, may_answer

MAX_BATCH = 500
MAX_CONTACT_REF = 100
MAX_COMMENT = 1000
MAX_REASON = 100

Status = Literal["stored", "duplicate", "rejected"]


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: uuid.UUID
    question: int
    value: int
    answered_at: Annotated[datetime, msgspec.Meta(tz=True)]
    contact_ref: Annotated[str, msgspec.Meta(max_length=MAX_CONTACT_REF)] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=MAX_COMMENT)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON)] | None = None
    # Bounded so that an id beyond SQLite's integer range is refused as input, not a 500.
    team: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None


class AnswerBatch(msgspec.Struct, forbid_unknown_fields=True):
    answers: Annotated[list[AnswerIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class AnswerResult(msgspec.Struct, omit_defaults=True):
    id: str
    status: Status
    reason: str | None = None


class BatchResult(msgspec.Struct):
    results: list[AnswerResult]


class NewAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """One validated answer, ready to store; every source (app, kiosk, API, import) builds these."""

    id: str
    question_id: int
    value: int
    answered_at: int
    source: Source
    person_id: int | None = None
    team_id: int | None = None
    api_key_id: int | None = None
    kiosk_id: int | None = None
    link_id: int | None = None
    contact_ref: str | None = None
    comment: str | None = None
    reason: str | None = None

    def fingerprint(self) -> str:
        # A person's, kiosk's or link's team comes from the account or device, not from the
        # body: a re-send after it moved to another team is the same answer (a duplicate).
        own_team = self.person_id is None and self.kiosk_id is None and self.link_id is None
        fields: list[object] = [
            self.question_id,
            self.value,
            self.answered_at,
            self.source,
            self.person_id,
            self.team_id if own_team else None,
            self.api_key_id,
            self.contact_ref,
            self.comment,
        ]
        # Appended only when set, so answers stored before these fields keep their hash.
        if self.kiosk_id is not None or self.link_id is not None or self.reason is not None:
            fields += [self.kiosk_id, self.link_id, self.reason]
        return hashlib.sha256(msgspec.json.encode(fields)).hexdigest()


class OwnAnswer(msgspec.Struct, frozen=True):
    id: str
    question: int
    kind: str
    value: int
    answered_at: datetime
    contact_ref: str | None
    comment: str | None


class OwnAnswers(msgspec.Struct, frozen=True):
    answers: list[OwnAnswer]


# --- validation ------------------------------------------------------------------------


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


# Control characters (C0, DEL, C1) other than newline and tab: a NUL cuts a text short in
# SQLite, and the others are invisible in a report yet can forge a line in a log or a CSV.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
TEXT_FIELDS = ("contact_ref", "comment", "reason")


def text_problem(text: str | None) -> str | None:
    """Why a free text cannot be stored as sent, or None."""
    found = _CONTROL.search(text) if text else None
    if found is None:
        return None
    code = f"U+{ord(found.group()):04X}"
    return f"holds a control character ({code}); only newline and tab are allowed"


def check(
    answer: AnswerIn,
    question: Question | None,
    principal: Principal,
    now: float,
    settings: Settings,
    teams: set[int],
) -> str | None:
    """Why this answer cannot be stored, or None when it can."""
    if question is None:
        return f"unknown question {answer.question}"
    if not question.active:
        return f"question {question.id} is not active"
    if not may_answer(principal, question):
        return f"you may not answer question {question.id} (kind {question.kind})"
    if not question.scale.min <= answer.value <= question.scale.max:
        return f"value must be between {question.scale.min} and {question.scale.max}"
    at = answer.answered_at.timestamp()
    if at > now + settings.clock_skew_seconds:
        return "answered_at lies in the future"
    if at < now - settings.answer_horizon_days * 86400:
        return f"answered_at is older than {settings.answer_horizon_days} days"
    for field in TEXT_FIELDS:
        if problem := text_problem(getattr(answer, field)):
            return f"{field} {problem}"
    if answer.contact_ref is not None and question.kind not in CONTACT_KINDS:
        return f"questions of kind {question.kind} take no contact_ref"
    if answer.reason is not None and question.kind not in CUSTOMER_KINDS:
        return f"questions of kind {question.kind} take no reason"
    if answer.team is not None and not principal.team_from_body:
        return "team is set by your account or device, not by the answer"
    team = answer.team if answer.team is not None else principal.team_id
    if team is None:
        return "team is required" if principal.team_from_body else "you are not in a team"
    if principal.allowed_teams is not None and team not in principal.allowed_teams:
        return f"you may not file answers under team {team}"
    if answer.team is not None and answer.team not in teams:
        return f"unknown team {answer.team}"
    return None


def to_new_answer(answer: AnswerIn, principal: Principal) -> NewAnswer:
    return NewAnswer(
        id=str(answer.id),
        question_id=answer.question,
        value=answer.value,
        answered_at=int(answer.answered_at.timestamp()),
        source=principal.source,
        person_id=principal.person_id,
        team_id=answer.team if answer.team is not None else principal.team_id,
        api_key_id=principal.api_key_id,
        kiosk_id=principal.kiosk_id,
        link_id=principal.link_id,
        contact_ref=_clean(answer.contact_ref),
        comment=_clean(answer.comment),
        reason=_clean(answer.reason),
    )


# --- storage ---------------------------------------------------------------------------


async def store_batch(
    db: Database, answers: list[NewAnswer], now: float, *, atomic: bool = False
) -> list[Status]:
    """Store each answer once and say what became of each, in order, after the commit.

    An id seen before with the same body is a duplicate; with another body, a conflict
    (reported as 'rejected'), and the stored answer stays as it was. Answers go to the group
    commit MAX_BATCH at a time, each group its own transaction. With `atomic` (a CSV import),
    every answer goes in one transaction of its own: all are stored, or none.
    """
    if atomic:
        return await _store_atomic(db, answers, now)
    statuses: list[Status] = []
    for start in range(0, len(answers), MAX_BATCH):
        statuses += await _store_chunk(db, answers[start : start + MAX_BATCH], now)
    return statuses


async def _store_chunk(db: Database, answers: list[NewAnswer], now: float) -> list[Status]:
    fingerprints = [a.fingerprint() for a in answers]
    first = _first_places(answers)
    rows = [_row(answers[i], now, fingerprints[i]) for i in first.values()]
    # The ids this call stored; the others were there before (or another request's).
    inserted = await group_insert(db).insert(rows)
    return await _statuses(db, answers, fingerprints, first, inserted)


# Rows a statement of an atomic store carries: 15 values each stays under SQLite's limit of
# 32,766 bound values, and fewer, larger statements cost less than MAX_BATCH's.
ATOMIC_ROWS = 2000


async def _store_atomic(db: Database, answers: list[NewAnswer], now: float) -> list[Status]:
    fingerprints = [a.fingerprint() for a in answers]
    first = _first_places(answers)
    # In id order, each row's key lands beside the previous one in the primary key's index
    # instead of on a random page (SQLite alone, 100,000 rows: 2.1 s instead of 3.1 s).
    places = sorted(first.values(), key=lambda i: answers[i].id)
    inserted: set[str] = set()
    async with db.transaction() as tx:
        for start in range(0, len(places), ATOMIC_ROWS):
            rows = [
                _row(answers[i], now, fingerprints[i]) for i in places[start : start + ATOMIC_ROWS]
            ]
            stored = await tx.fetch_all(_insert_sql(len(rows)), _flat(rows))
            inserted.update(row[0] for row in stored)
    return await _statuses(db, answers, fingerprints, first, inserted)


def _first_places(answers: list[NewAnswer]) -> dict[str, int]:
    """Each id's first place in the list: a later answer with the same id is not stored."""
    first: dict[str, int] = {}
    for index, answer in enumerate(answers):
        first.setdefault(answer.id, index)
    return first


async def _statuses(
    db: Database,
    answers: list[NewAnswer],
    fingerprints: list[str],
    first: dict[str, int],
    inserted: set[str],
) -> list[Status]:
    """What became of each answer, after the commit that stored `inserted`."""
    known = await stored_fingerprints(db, [i for i in first if i not in inserted])
    statuses: list[Status] = []
    for index, (answer, fingerprint) in enumerate(zip(answers, fingerprints, strict=True)):
        if answer.id in inserted:
            if first[answer.id] == index:
                statuses.append("stored")
                continue
            known[answer.id] = fingerprints[first[answer.id]]  # the one stored just now
        statuses.append("duplicate" if known.get(answer.id) == fingerprint else "rejected")
    return statuses


_Waiting = tuple[list[tuple[Any, ...]], "asyncio.Future[set[str]]"]


class GroupInsert:
    """Group commit: the rows of requests that arrive while a write is on its way to the
    writer's thread go to the database together, as one statement (one transaction, one
    trip) as soon as that write returns. Under load each trip then carries many requests'
    answers; alone, a request's rows leave at once. Each caller is answered after the
    commit that holds its rows, with the ids it stored: an id sent by two callers in one
    group belongs to the first. If a combined statement fails, each caller's rows are tried
    alone, so that one caller's failure is not another's."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, rows: list[tuple[Any, ...]]) -> set[str]:
        """Insert rows (ids unique among them, at most MAX_BATCH); the ids this call stored."""
        done: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        group: list[_Waiting] = []
        try:
            while self._waiting:
                group = self._next_group()
                await self._write(group)
        except BaseException:
            # Cancelled (the server is stopping): no caller may wait for a write that will
            # not come.
            for _, done in [*group, *self._waiting]:
                done.cancel()
            self._waiting.clear()
            raise
        finally:
            self._flusher = None

    def _next_group(self) -> list[_Waiting]:
        group = [self._waiting.pop(0)]
        size = len(group[0][0])
        while self._waiting and size + len(self._waiting[0][0]) <= MAX_BATCH:
            size += len(self._waiting[0][0])
            group.append(self._waiting.pop(0))
        return group

    async def _write(self, group: list[_Waiting]) -> None:
        owner: dict[str, int] = {}
        rows = []
        for member, (member_rows, _) in enumerate(group):
            for row in member_rows:
                if owner.setdefault(row[0], member) == member:
                    rows.append(row)
        try:
            stored = {row[0] for row in await self.db.write(_insert_sql(len(rows)), _flat(rows))}
        except Exception as exc:
            # A store that cannot write (locked, full) fails every caller alike: tried one by
            # one, each would wait out the busy timeout again.
            if len(group) == 1 or isinstance(exc, StoreUnavailable):
                for _, done in group:
                    _settle(done, exception=exc)
                return
            for alone in group:
                await self._write([alone])
            return
        for member, (member_rows, done) in enumerate(group):
            _settle(
                done,
                {row[0] for row in member_rows if row[0] in stored and owner[row[0]] == member},
            )


def _settle(
    done: asyncio.Future[set[str]],
    result: set[str] | None = None,
    exception: BaseException | None = None,
) -> None:
    if done.done():  # its request was cancelled (the client went away); its rows stay stored
        return
    if exception is not None:
        done.set_exception(exception)
    else:
        done.set_result(result or set())


_groups: WeakKeyDictionary[Database, GroupInsert] = WeakKeyDictionary()


def group_insert(db: Database) -> GroupInsert:
    """The group commit of this database (one per database, so tests stay apart)."""
    inserts = _groups.get(db)
    if inserts is None:
        inserts = _groups[db] = GroupInsert(db)
    return inserts


def _insert_sql(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return (
        "INSERT INTO answers (id, question_id, value, answered_at, received_at, source,"
        " person_id, team_id, api_key_id, kiosk_id, link_id, contact_ref, comment, reason,"
        " fingerprint)"
        f" VALUES {values} ON CONFLICT (id) DO NOTHING RETURNING id"
    )


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [value for row in rows for value in row]


def _row(answer: NewAnswer, now: float, fingerprint: str) -> tuple[Any, ...]:
    return (
        answer.id,
        answer.question_id,
        answer.value,
        answer.answered_at,
        int(now),
        answer.source,
        answer.person_id,
        answer.team_id,
        answer.api_key_id,
        answer.kiosk_id,
        answer.link_id,
        answer.contact_ref,
        answer.comment,
        answer.reason,
        fingerprint,
    )


CONFLICT = "conflict: this id was already used for a different answer"
# Ids looked up by one query: SQLite binds at most 32,766 values to a statement.
IDS_PER_QUERY = 20_000


async def stored_fingerprints(db: Database, ids: list[str]) -> dict[str, str]:
    """The fingerprints of those of these answer ids that are already stored."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        part = ids[start : start + IDS_PER_QUERY]
        marks = ", ".join("?" for _ in part)
        sql = f"SELECT id, fingerprint FROM answers WHERE id IN ({marks})"
        found.update((row["id"], row["fingerprint"]) for row in await db.fetch_all(sql, part))
    return found


ONCE_PER_CONTACT = "this contact was already rated through this link; the first answer stands"


async def contact_answered(db: Database, link_id: int, question_id: int, ref: str) -> bool:
    """Whether this question was answered for this contact reference through this link."""
    found = await db.fetch_value(
        "SELECT 1 FROM answers WHERE link_id = ? AND question_id = ? AND contact_ref = ?",
        (link_id, question_id, ref),
    )
    return found is not None


async def answered_contacts(
    db: Database, link_id: int | None, batch: list[AnswerIn]
) -> set[tuple[int, str]]:
    """(question, contact_ref) of this batch already answered through this link: a link takes
    one answer per contact and question (docs/customers.md)."""
    refs = {a.contact_ref.strip() for a in batch if a.contact_ref and a.contact_ref.strip()}
    if link_id is None or not refs:
        return set()
    marks = ", ".join("?" for _ in refs)
    rows = await db.fetch_all(
        "SELECT question_id, contact_ref FROM answers WHERE link_id = ?"
        f" AND contact_ref IN ({marks})",
        [link_id, *refs],
    )
    return {(row["question_id"], row["contact_ref"]) for row in rows}


async def count_by_kiosk(db: Database, since: int) -> dict[int, int]:
    """How many answers each kiosk sent that were given since `since` (the kiosk list's
    "answers today"), over the index answers_kiosk_time (migration 0004)."""
    rows = await db.fetch_all(
        "SELECT kiosk_id, COUNT(*) AS n FROM answers"
        " WHERE kiosk_id IS NOT NULL AND answered_at >= ? GROUP BY kiosk_id",
        (since,),
    )
    return {row["kiosk_id"]: row["n"] for row in rows}


async def existing_teams(db: Database, team_ids: set[int]) -> set[int]:
    if not team_ids:
        return set()
    marks = ", ".join("?" for _ in team_ids)
    rows = await db.fetch_all(f"SELECT id FROM teams WHERE id IN ({marks})", list(team_ids))
    return {row["id"] for row in rows}


async def _refusals(
    db: Database, refused: list[tuple[int, NewAnswer, str]]
) -> list[tuple[int, AnswerResult]]:
    """Results for answers that fail validation. A re-send of a stored answer is a duplicate
    even if it would not pass today (question retired, past the horizon): the device must be
    allowed to forget it. Answers that pass are told apart as duplicates by store_batch."""
    stored = await stored_fingerprints(db, [new.id for _, new, _ in refused])
    return [
        (index, AnswerResult(id=new.id, status="duplicate"))
        if stored.get(new.id) == new.fingerprint()
        else (index, AnswerResult(id=new.id, status="rejected", reason=reason))
        for index, new, reason in refused
    ]


# --- routes ----------------------------------------------------------------------------


def strict_batch(body: bytes) -> AnswerBatch:
    """Decode again without coercion: Litestar converts bodies leniently ("2" becomes 2),
    and a client sending a string where a number belongs has a bug it should hear about."""
    try:
        return msgspec.json.decode(body, type=AnswerBatch)
    except msgspec.ValidationError as exc:
        raise ValidationException(detail=f"Invalid answers: {exc}") from exc


async def may_post_answers(request: Request[Any, Any, State]) -> None:
    """The guards of the busiest route, run as its before_request hook: that runs before the
    body is read, like guards, but Litestar copies the whole route handler for every guard
    call, a measurable share of this route's cost."""
    await signed_in(request, request.route_handler)
    await same_origin_json(request, request.route_handler)


# --- data protection (server/admin.py): one person's answers, comment retention --------


async def answers_of_person(db: Database, person_id: int) -> list[dict[str, Any]]:
    """Every answer a person gave, oldest first, for their data export."""
    rows = await db.fetch_all(
        "SELECT a.id, q.kind, a.question_id, a.value, a.answered_at, a.received_at, a.source,"
        " a.team_id, a.contact_ref, a.comment FROM answers a"
        " JOIN questions q ON q.id = a.question_id WHERE a.person_id = ?"
        " ORDER BY a.answered_at, a.id",
        (person_id,),
    )
    return [dict(row) for row in rows]


async def delete_of_person(tx: Writer, person_id: int) -> int:
    """Delete every answer of a person inside the caller's transaction; the rollups must be
    rebuilt in it too (reports.recompute)."""
    deleted, _ = await tx.execute("DELETE FROM answers WHERE person_id = ?", (person_id,))
    return deleted


async def erase_comments(tx: Writer, before: float) -> int:
    """Erase the comments of answers given before this moment; the answers themselves stay."""
    erased, _ = await tx.execute(
        "UPDATE answers SET comment = NULL WHERE comment IS NOT NULL AND answered_at < ?",
        (int(before),),
    )
    return erased


@post("/api/v1/answers", status_code=200, before_request=may_post_answers)
async def post_answers(
    data: JSONBody[AnswerBatch], request: Request[Any, Any, State], ctx: Ctx
) -> BatchResult:
    """Store a batch of answers; the response is sent only after the transaction commits."""
    data = strict_batch(await request.body())
    principal, db, settings, state = caller(request), ctx.db, ctx.settings, request.app.state
    now = ctx.clock()
    book: QuestionBook = state.questions
    teams = await existing_teams(db, {a.team for a in data.answers if a.team is not None})
    taken = await answered_contacts(db, principal.link_id, data.answers)
    results: list[AnswerResult | None] = [None] * len(data.answers)
    valid: list[tuple[int, NewAnswer]] = []
    refused: list[tuple[int, NewAnswer, str]] = []
    for index, answer in enumerate(data.answers):
        new = to_new_answer(answer, principal)
        reason = check(answer, book.by_id.get(answer.question), principal, now, settings, teams)
        if not reason and principal.link_id is not None and new.contact_ref is not None:
            if (new.question_id, new.contact_ref) in taken:
                reason = ONCE_PER_CONTACT
            taken.add((new.question_id, new.contact_ref))
        if reason:
            refused.append((index, new, reason))
        else:
            valid.append((index, new))
    for index, result in await _refusals(db, refused):
        results[index] = result
    outcome = await store_batch(db, [a for _, a in valid], now)
    for (index, new), status in zip(valid, outcome, strict=True):
        reason = CONFLICT if status == "rejected" else None
        results[index] = AnswerResult(id=new.id, status=status, reason=reason)
    return BatchResult(results=[r for r in results if r is not None])


@get("/api/v1/me/answers", guards=[person_only])
async def own_answers(
    request: Request[Any, Any, State], ctx: Ctx, days: FromQuery[int] = 56
) -> OwnAnswers:
    """The caller's own answers of the last `days` days, newest first."""
    principal = caller(request)
    since = int(ctx.clock()) - max(1, min(days, 400)) * 86400
    rows = await ctx.db.fetch_all(
        "SELECT a.id, a.question_id, q.kind, a.value, a.answered_at, a.contact_ref, a.comment"
        " FROM answers a JOIN questions q ON q.id = a.question_id"
        " WHERE a.person_id = ? AND a.answered_at >= ? ORDER BY a.answered_at DESC, a.id",
        (principal.person_id, since),
    )
    return OwnAnswers(
        answers=[
            OwnAnswer(
                id=r["id"],
                question=r["question_id"],
                kind=r["kind"],
                value=r["value"],
                answered_at=utc(r["answered_at"]),
                contact_ref=r["contact_ref"],
                comment=r["comment"],
            )
            for r in rows
        ]
    )


route_handlers = [post_answers, own_answers]
