"""CSV imports of customer scores: read and check every row, then store all of them or none."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from server import answers, people, questions
from server.admin import admin_only
from server.customers.common import _admin
from server.customers.links import MAX_REF
from server.db import Database
from server.deps import Ctx

# --- CSV import --------------------------------------------------------------------------

Kind = Literal["csat", "nps"]
KINDS: dict[str, Kind] = {"csat": "csat", "nps": "nps"}
QUESTION_KIND = {"csat": "customer_csat", "nps": "customer_nps"}
# Header names as other tools and Dutch users write them.
COLUMNS = {
    "date": "date", "datum": "date",
    "team": "team",
    "kind": "kind", "soort": "kind", "type": "kind",
    "score": "score", "waarde": "score", "cijfer": "score",
    "contact_ref": "contact_ref", "contact reference": "contact_ref", "contact": "contact_ref",
    "ref": "contact_ref", "reference": "contact_ref", "referentie": "contact_ref",
    "contactreferentie": "contact_ref",
    "comment": "comment", "opmerking": "comment", "toelichting": "comment",
}  # fmt: skip
REQUIRED = ("date", "team", "kind", "score")
NPS_SCALE = (0, 10)
MAX_PROBLEMS = 1000
MAX_IMPORT_BYTES = 64 * 1024 * 1024
# Row identity: a UUID5 in this namespace of the normalised row (see docs/customers.md).
NAMESPACE = uuid.UUID("6f1c7c62-3f1e-5b5e-9a57-2b0f3c1d7a10")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DUTCH = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


class Problem(msgspec.Struct, frozen=True):
    """An invalid row: its line in the file (where the row starts) and why."""

    line: int
    reason: str


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """A dry run's or an import's outcome. Nothing is stored when `problems` is not empty."""

    rows: int
    valid: int
    problems: list[Problem]
    more_problems: int = 0
    stored: int = 0
    already: int = 0
    dry_run: bool = True


class ImportError_(ValueError):
    """The file as a whole cannot be read (not CSV, no header, missing columns)."""


@dataclass
class Parsed:
    answers: list[answers.NewAnswer] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM, as Excel's "CSV UTF-8" saves it), else
    Windows-1252 (Excel's plain "CSV" on a Dutch Windows)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(header: str) -> str:
    """`;` for Dutch Excel (the comma is the decimal sign there), else `,` or a tab."""
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_scale(text: str) -> tuple[int, int]:
    """'1-5' -> (1, 5): a declared CSAT scale, 1-2 to 1-5 faces or 0-10 (what questions hold)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*(?:-|\.\.|\u2013)\s*(\d{1,2})\s*", text or "")
    if not match:
        raise ImportError_(f"a scale is written like 1-5, not {text!r}")
    low, high = int(match.group(1)), int(match.group(2))
    if not ((low == 1 and 2 <= high <= 5) or (low, high) == (0, 10)):
        raise ImportError_("a CSAT scale is 1-2, 1-3, 1-4, 1-5 or 0-10")
    return low, high


def parse_when(text: str, zone: ZoneInfo) -> int:
    """A date (dd-mm-jjjj, also with / or ., or ISO yyyy-mm-dd) or an ISO date and time.
    A date without a time is taken as noon in the organisation's zone, so its local day is
    the day written, whatever the zone and daylight saving."""
    text = text.strip()
    if match := _ISO.match(text):
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return int(datetime.combine(day, time(12), zone).timestamp())
    if match := _DUTCH.match(text):
        d, m, y, hh, mm, ss = match.groups()
        day = date(int(y), int(m), int(d))
        at = time(int(hh), int(mm), int(ss or 0)) if hh is not None else time(12)
        return int(datetime.combine(day, at, zone).timestamp())
    moment = datetime.fromisoformat(text)  # ValueError if not a date
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp())


@lru_cache(maxsize=1024)  # a file holds few distinct score texts: each is parsed once
def parse_score(text: str) -> int:
    """A whole number, also written with a decimal comma or point ("4,0", "8.0")."""
    text = text.strip().replace(",", ".")
    value = float(text)
    if value != int(value):
        raise ValueError(f"score {text} is not a whole number")
    return int(value)


class Importer:
    """Checks every row of a file, then (all valid) stores them with answers.store_batch."""

    def __init__(
        self,
        teams: dict[str, int],
        question_of: dict[Kind, int],
        scales: dict[Kind, tuple[int, int]],
        zone: ZoneInfo,
        now: float,
    ) -> None:
        self.teams = teams
        self.question_of = question_of
        self.scales = scales
        self.zone = zone
        self.now = now
        self.seen: dict[str, int] = {}
        self.moments: dict[str, int] = {}

    def parse(self, text: str) -> Parsed:
        first = text.split("\n", 1)[0]
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first))
        try:
            header = next(reader)
        except StopIteration:
            raise ImportError_("the file is empty") from None
        except csv.Error as exc:
            raise ImportError_(f"line 1: {exc}") from None
        index = self.columns(header)
        parsed = Parsed()
        line = reader.line_num + 1
        try:
            for row in reader:
                start, line = line, reader.line_num + 1
                if not "".join(row).strip():
                    continue
                parsed.rows += 1
                self.row(row, index, start, parsed)
        except csv.Error as exc:
            parsed.problems.append(Problem(line, f"not readable as CSV: {exc}"))
        return parsed

    @staticmethod
    def columns(header: list[str]) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            key = COLUMNS.get(" ".join(name.strip().lower().replace("_", " ").split()))
            key = key or COLUMNS.get(name.strip().lower())
            if key and key not in index:
                index[key] = i
        missing = [c for c in REQUIRED if c not in index]
        if missing:
            raise ImportError_(
                f"line 1: the header lacks {', '.join(missing)} (columns: date, team, kind,"
                " score, and optionally contact_ref and comment)"
            )
        return index

    def row(self, row: list[str], index: dict[str, int], line: int, parsed: Parsed) -> None:
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in index.items()}
        try:
            new = self.answer(cells)
        except ValueError as exc:
            parsed.problems.append(Problem(line, str(exc)))
            return
        parsed.answers.append(new)

    def when(self, text: str) -> int:
        # A file holds few distinct dates (100,000 rows, a year of days): each parsed once.
        found = self.moments.get(text)
        if found is None:
            try:
                found = self.moments[text] = parse_when(text, self.zone)
            except (ValueError, OverflowError):
                raise ValueError(f"date {text!r} is not dd-mm-jjjj or yyyy-mm-dd") from None
        return found

    def answer(self, cells: dict[str, str]) -> answers.NewAnswer:
        kind = KINDS.get(cells["kind"].lower())
        if kind is None:
            raise ValueError(f"kind must be csat or nps, not {cells['kind']!r}")
        team = self.teams.get(" ".join(cells["team"].lower().split()))
        if team is None:
            raise ValueError(f"unknown team {cells['team']!r}")
        at = self.when(cells["date"])
        if at > self.now + 86400:
            raise ValueError(f"date {cells['date']} lies in the future")
        try:
            score = parse_score(cells["score"])
        except ValueError:
            raise ValueError(f"score {cells['score']!r} is not a whole number") from None
        low, high = self.scales[kind]
        if not low <= score <= high:
            raise ValueError(f"{kind} score must be between {low} and {high}, not {score}")
        ref = cells.get("contact_ref") or None
        # A line break inside a quoted field is \r\n when Excel wrote it: kept as one \n.
        comment = cells.get("comment") or None
        if comment is not None:
            comment = comment.replace("\r\n", "\n").replace("\r", "\n")
            if len(comment) > answers.MAX_COMMENT:
                raise ValueError(f"comment longer than {answers.MAX_COMMENT} characters")
            if problem := answers.text_problem(comment):
                raise ValueError(f"comment {problem}")
        if ref is not None:
            if len(ref) > MAX_REF:
                raise ValueError(f"contact reference longer than {MAX_REF} characters")
            if problem := answers.text_problem(ref):
                raise ValueError(f"contact reference {problem}")
        return answers.NewAnswer(
            id=self.identity(at, team, kind, score, ref, comment),
            question_id=self.question_of[kind],
            value=score,
            answered_at=at,
            source="import",
            team_id=team,
            contact_ref=ref,
            comment=comment,
        )

    def identity(
        self, at: int, team: int, kind: Kind, score: int, ref: str | None, comment: str | None
    ) -> str:
        """The row's answer id from its content: the same row imported again is the same
        answer. Identical rows within a file (two customers, same day and score) are told
        apart by their occurrence: the second is "#2"."""
        low, high = self.scales[kind]
        content = (
            f"{at}\x1f{team}\x1f{kind}\x1f{low}-{high}\x1f{score}\x1f{ref or ''}\x1f{comment or ''}"
        )
        count = self.seen[content] = self.seen.get(content, 0) + 1
        return uuid5(f"{content}\x1f#{count}")


_NAMESPACE_BYTES = NAMESPACE.bytes


def uuid5(name: str) -> str:
    """uuid.uuid5(NAMESPACE, name) as text, without building UUID objects (100,000 a file)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


async def import_teams(db: Database) -> dict[str, int]:
    """Team names (lower case, spaces normalised) and ids, as an import matches them."""
    return {
        " ".join(t.name.lower().split()): t.id
        for t in await people.list_teams(db)
        if not t.archived
    }


async def import_questions(db: Database, csat: tuple[int, int], now: float) -> dict[Kind, int]:
    """The questions imported answers belong to: CSAT on its scale, NPS on 0..10 (added,
    inactive, when the organisation has none on that scale: an import asks nobody)."""
    return {
        "csat": await questions.ensure_question(db, "customer_csat", *csat, now),
        "nps": await questions.ensure_question(db, "customer_nps", *NPS_SCALE, now),
    }


async def check_file(
    db: Database, data: bytes, csat: tuple[int, int], zone: ZoneInfo, now: float
) -> tuple[Parsed, ImportReport]:
    """Read and check every row (the dry run); nothing is stored."""
    importer = Importer(
        await import_teams(db),
        await import_questions(db, csat, now),
        {"csat": csat, "nps": NPS_SCALE},
        zone,
        now,
    )
    parsed = importer.parse(decode(data))
    problems = parsed.problems
    report = ImportReport(
        rows=parsed.rows,
        valid=len(parsed.answers),
        problems=problems[:MAX_PROBLEMS],
        more_problems=max(0, len(problems) - MAX_PROBLEMS),
    )
    return parsed, report


async def import_file(
    db: Database,
    data: bytes,
    csat: tuple[int, int],
    zone: ZoneInfo,
    now: float,
    dry_run: bool = False,
) -> ImportReport:
    """Check the file; store all its rows only when every row is valid. Rows imported before
    (same content) are found by their id and not stored again."""
    parsed, report = await check_file(db, data, csat, zone, now)
    if dry_run or report.problems or not parsed.answers:
        return report
    statuses = await answers.store_batch(db, parsed.answers, now, atomic=True)
    stored = statuses.count("stored")
    return msgspec.structs.replace(
        report, stored=stored, already=len(statuses) - stored, dry_run=False
    )


def _import_page(
    request: Request[Any, Any, Any], report: ImportReport | None = None,
    problem: str | None = None, status: int = 200, scale: str = "1-5", name: str = "",
) -> Template:  # fmt: skip
    return _admin(
        request, "import_scores.html", status, report=report, problem=problem, scale=scale,
        name=name,
    )  # fmt: skip


@get("/admin/import", guards=[admin_only], include_in_schema=False)
async def import_admin(request: Request[Any, Any, Any]) -> Template:
    """Import customer scores from a CSV file: a dry run first, then all rows or none."""
    return _import_page(request)


@post(
    "/admin/import",
    guards=[admin_only],
    include_in_schema=False,
    request_max_body_size=MAX_IMPORT_BYTES,
)
async def import_post(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    form = await request.form()
    upload = form.get("file")
    scale = str(form.get("scale", "1-5") or "1-5")
    if not isinstance(upload, UploadFile):
        return _import_page(request, problem="customer.import.no_file", status=400, scale=scale)
    data = await upload.read()
    name = upload.filename or ""
    try:
        report = await import_file(
            ctx.db, data, parse_scale(scale), ctx.settings.zone, ctx.clock(),
            dry_run=form.get("action") != "import",
        )  # fmt: skip
    except ImportError_ as exc:
        return _import_page(request, problem=str(exc), status=400, scale=scale, name=name)
    status = 400 if report.problems else 200
    return _import_page(request, report, status=status, scale=scale, name=name)


route_handlers = [import_admin, import_post]
