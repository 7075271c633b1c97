"""Customer channels: links (`/c/<token>`) and their QR codes, CSV imports of customer scores,
and the admin screens of links, imports and API keys.

This room writes its own table, customer_links. Answers are stored only through
`answers.store_batch`; keys are made and revoked through auth's named functions; questions an
import needs are found or added through `questions.ensure_question`.

A link's caller (`callers.link`) is resolved by auth from the `X-Spiegel-Link` header that the
link's page sends with each batch (no cookie, no sign-in). One answer per contact reference and
question through a link: the first stands, a second is refused (the answer route checks, the
unique index of migration 0007 settles a race), and the page opened again for that reference
says thank you instead of asking.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec
import segno
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from server import answers, auth, callers, people, questions
from server.admin import SECTIONS, Section, admin_only
from server.auth import rate_limited
from server.callers import Principal
from server.db import Database
from server.deps import Ctx

LINK_PATH = "/c/"
MAX_REF = answers.MAX_CONTACT_REF
MAX_NAME = 100
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
SCRIPT = Path(__file__).parent / "templates" / "customer" / "link.js"
# A6 is 105 x 148 mm: the code is printed 80 mm wide, with room for a line of text.
QR_MM = 80
QR_DPI = 300


# --- links -------------------------------------------------------------------------------


class Link(msgspec.Struct, frozen=True, kw_only=True):
    """A customer link: one team, its questions in the order asked (the smiley first)."""

    id: int
    token: str
    name: str
    team_id: int
    team: str
    questions: list[int]
    created_at: int
    disabled_at: int | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class LinkError(ValueError):
    """Why a link cannot be made as asked; said to the admin or on the command line."""


_LINKS = (
    "SELECT l.id, l.token, l.name, l.team_id, t.name AS team, l.questions, l.created_at,"
    " l.disabled_at FROM customer_links l JOIN teams t ON t.id = l.team_id"
)


def _link(row: Any) -> Link:
    return Link(
        id=row["id"],
        token=row["token"],
        name=row["name"],
        team_id=row["team_id"],
        team=row["team"],
        questions=[int(q) for q in row["questions"].split()],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def link_questions(
    book: questions.QuestionBook, smiley: int | None = None, nps: bool = True
) -> list[int]:
    """The questions of a new link: the smiley (by default the active CSAT question with four
    faces, else the first active one) and, if asked, the active NPS question."""
    active = [q for q in book.by_id.values() if q.active]
    csat = [q for q in active if q.kind == "customer_csat"]
    if smiley is not None:
        chosen = [q for q in csat if q.id == smiley]
    else:
        chosen = [q for q in csat if q.scale.max - q.scale.min == 3] or csat
    if not chosen:
        raise LinkError("there is no active customer satisfaction (smiley) question")
    found = [chosen[0].id]
    scores = [q for q in active if q.kind == "customer_nps" and q.scale.min == 0]
    if nps and scores:
        found.append(scores[0].id)
    return found


async def create_link(
    db: Database, name: str, team_id: int, question_ids: list[int], now: float
) -> Link:
    """A new link with a fresh unguessable token (256 bits)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise LinkError(f"a link needs a name of 1 to {MAX_NAME} characters")
    [row] = await db.write(
        "INSERT INTO customer_links (token, name, team_id, questions, created_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (auth.new_token(), name, team_id, " ".join(map(str, question_ids)), int(now)),
    )
    found = await link_by_id(db, row[0])
    assert found is not None
    return found


async def list_links(db: Database) -> list[Link]:
    return [_link(r) for r in await db.fetch_all(_LINKS + " ORDER BY l.id DESC")]


async def link_by_id(db: Database, link_id: int) -> Link | None:
    row = await db.fetch_one(_LINKS + " WHERE l.id = ?", (link_id,))
    return None if row is None else _link(row)


async def link_by_token(db: Database, token: str) -> Link | None:
    row = await db.fetch_one(_LINKS + " WHERE l.token = ?", (token,))
    return None if row is None else _link(row)


async def set_link_disabled(db: Database, link_id: int, disabled: bool, now: float) -> bool:
    """Disable a link (its page says so, its posts get 401) or enable it again."""
    rows = await db.write(
        "UPDATE customer_links SET disabled_at = ? WHERE id = ? RETURNING id",
        (int(now) if disabled else None, link_id),
    )
    return bool(rows)


async def link_caller(db: Database, token: str) -> Principal | None:
    """The caller of a live link's token (auth.AuthMiddleware asks this), or None."""
    if not token or len(token) > 100:
        return None
    found = await link_by_token(db, token)
    if found is None or not found.active:
        return None
    return callers.link(found.id, found.name, found.team_id, frozenset(found.questions))


def link_url(public_url: str, link: Link, ref: str | None = None) -> str:
    from urllib.parse import quote

    tail = f"?ref={quote(ref, safe='')}" if ref else ""
    return f"{public_url}{LINK_PATH}{link.token}{tail}"


def qr_svg(url: str) -> str:
    """The link as an SVG QR code, 80 mm wide when printed (fits an A6 card)."""
    code = segno.make(url, error="m")
    width = code.symbol_size(border=2)[0]
    out = io.BytesIO()
    code.save(out, kind="svg", scale=QR_MM / width, unit="mm", border=2, dark="#000")
    return out.getvalue().decode("utf-8")


def qr_png(url: str) -> bytes:
    """The link as a PNG QR code of about 80 mm at 300 dpi (fits an A6 card)."""
    code = segno.make(url, error="m")
    width = code.symbol_size(border=2)[0]
    scale = max(1, round(QR_MM / 25.4 * QR_DPI / width))
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=2, dpi=QR_DPI)
    return out.getvalue()


QR_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def qr_file(url: str, kind: str) -> bytes:
    """The link's QR code as a PNG file (kind "png") or else an SVG file: the admin page's
    download and `spiegel link add --qr`."""
    return qr_png(url) if kind == "png" else qr_svg(url).encode()


# --- the customer's page -----------------------------------------------------------------


def face_svg(value: int, low: int, high: int) -> str:
    """The staff app's face drawing (pwa/faces.js), drawn on the server."""
    p = 1.0 if high == low else (value - low) / (high - low)
    bend = (p - 0.5) * 20
    hue = round(p * 120)
    return (
        '<svg viewBox="0 0 48 48" aria-hidden="true" focusable="false">'
        f'<circle cx="24" cy="24" r="21" fill="hsl({hue} 70% 78%)" stroke="#1f2328" '
        'stroke-width="2"/><circle cx="17" cy="19" r="2.6" fill="#1f2328"/>'
        '<circle cx="31" cy="19" r="2.6" fill="#1f2328"/>'
        f'<path d="M14 {32 - bend / 4:g} Q24 {32 + bend:g} 34 {32 - bend / 4:g}" fill="none" '
        'stroke="#1f2328" stroke-width="2.6" stroke-linecap="round"/></svg>'
    )


def clean_ref(ref: str | None) -> str | None:
    """A contact reference from `?ref=`, or None; LinkError when it cannot be one."""
    ref = (ref or "").strip()
    if not ref:
        return None
    if len(ref) > MAX_REF or answers.text_problem(ref):
        raise LinkError(f"a contact reference has at most {MAX_REF} plain characters")
    return ref


async def answered(db: Database, link_id: int, question_id: int, ref: str) -> bool:
    return await answers.contact_answered(db, link_id, question_id, ref)


@get(
    "/c/{token:str}",
    guards=[rate_limited],
    opt={"rate_bucket": "customer-link"},
    include_in_schema=False,
)
async def link_page(
    token: FromPath[str],
    request: Request[Any, Any, Any],
    ctx: Ctx,
    ref: FromQuery[str | None] = None,
) -> Template:
    """The customer's page: one smiley question, then optionally NPS and a reason."""
    found = await link_by_token(ctx.db, token)
    if found is None:
        return Template("customer/closed.html", status_code=404, headers=PRIVATE)
    if not found.active:
        return Template("customer/closed.html", status_code=410, headers=PRIVATE)
    try:
        contact = clean_ref(ref)
    except LinkError:
        return Template("customer/closed.html", context={"bad_ref": True}, status_code=400,
                        headers=PRIVATE)  # fmt: skip
    book: questions.QuestionBook = request.app.state.questions
    asked = [book.by_id[q] for q in found.questions if q in book.by_id and book.by_id[q].active]
    smiley = next((q for q in asked if q.kind == "customer_csat"), None)
    if smiley is None:
        return Template("customer/closed.html", status_code=410, headers=PRIVATE)
    nps = next((q for q in asked if q.kind == "customer_nps"), None)
    done = contact is not None and await answered(ctx.db, found.id, smiley.id, contact)
    faces = [
        {"value": v, "svg": face_svg(v, smiley.scale.min, smiley.scale.max),
         "label": f"face.{smiley.scale.max - smiley.scale.min + 1}.{v - smiley.scale.min + 1}"}
        for v in range(smiley.scale.min, smiley.scale.max + 1)
    ]  # fmt: skip
    context = {
        "link": found,
        "ref": contact or "",
        "smiley": smiley,
        "faces": faces,
        "nps": nps,
        "done": done,
        "max_reason": answers.MAX_REASON,
    }
    return Template("customer/link.html", context=context, headers=PRIVATE)


PWA = Path(__file__).resolve().parent.parent / "pwa"
# The page's files, served under /c/ too: every path under /c/ is left out of the CSRF
# middleware, which would otherwise set its cookie on the shared files under /app/.
ASSETS = {
    "link.js": (SCRIPT, "text/javascript"),
    "outbox.js": (PWA / "outbox.js", "text/javascript"),
    "api.js": (PWA / "api.js", "text/javascript"),
    "app.css": (PWA / "app.css", "text/css"),
    "icon.svg": (PWA / "icons" / "icon.svg", "image/svg+xml"),
}


@get("/c/s/{name:str}", include_in_schema=False, sync_to_thread=False)
def link_asset(name: FromPath[str]) -> Response[bytes]:
    """The page's module, the shared outbox it sends through, and the design system."""
    if name not in ASSETS:
        raise NotFoundException(detail="No such file.")
    path, media_type = ASSETS[name]
    return Response(path.read_bytes(), media_type=media_type, headers={"Cache-Control": "no-cache"})


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


# --- admin pages -------------------------------------------------------------------------

SECTIONS.extend(
    [
        Section("/admin/links", "customer.links.title", "customer.links.text"),
        Section("/admin/import", "customer.import.title", "customer.import.text"),
        Section("/admin/apikeys", "customer.keys.title", "customer.keys.text"),
    ]
)


def _admin(
    request: Request[Any, Any, Any], template: str, status: int = 200, **context: Any
) -> Template:
    """An admin page in the admin screens' layout (server/templates/admin/layout.html)."""
    common = {"who": auth.principal_of(request), "section": "customers", "href": lambda p: p}
    return Template(
        f"admin/{template}", context={**common, **context}, status_code=status, headers=PRIVATE
    )


def _public_url(request: Request[Any, Any, Any], ctx: Ctx) -> str:
    if ctx.settings.base_url:
        return ctx.settings.public_url
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _links_page(
    request: Request[Any, Any, Any], ctx: Ctx, problem: str | None = None, status: int = 200
) -> Template:
    book: questions.QuestionBook = request.app.state.questions
    smileys = [q for q in book.by_id.values() if q.active and q.kind == "customer_csat"]
    return _admin(
        request,
        "links.html",
        status,
        links=await list_links(ctx.db),
        teams=[t for t in await people.list_teams(ctx.db) if not t.archived],
        smileys=smileys,
        base=_public_url(request, ctx) + LINK_PATH,
        problem=problem,
        questions=book.by_id,
    )


@get("/admin/links", guards=[admin_only], include_in_schema=False)
async def links_admin(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Customer links: make one, print its QR code, disable it."""
    return await _links_page(request, ctx)


@post("/admin/links", guards=[admin_only], include_in_schema=False)
async def links_add(request: Request[Any, Any, Any], ctx: Ctx) -> Template | Redirect:
    form = await request.form()
    book: questions.QuestionBook = request.app.state.questions
    try:
        team = int(str(form.get("team", "")))
        teams = {t.id for t in await people.list_teams(ctx.db) if not t.archived}
        if team not in teams:
            raise LinkError("choose a team")
        smiley = str(form.get("smiley", "") or "")
        asked = link_questions(book, int(smiley) if smiley else None, form.get("nps") == "on")
        made = await create_link(ctx.db, str(form.get("name", "")), team, asked, ctx.clock())
    except (LinkError, ValueError) as exc:
        return await _links_page(request, ctx, str(exc), 400)
    return Redirect(f"/admin/links#link-{made.id}", status_code=303)


@post("/admin/links/{link_id:int}/disable", guards=[admin_only], include_in_schema=False)
async def links_disable(
    link_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Redirect:
    form = await request.form()
    if not await set_link_disabled(ctx.db, link_id, form.get("enable") != "1", ctx.clock()):
        raise NotFoundException(detail="No such link.")
    return Redirect(f"/admin/links#link-{link_id}", status_code=303)


async def _admin_link(ctx: Ctx, link_id: int) -> Link:
    found = await link_by_id(ctx.db, link_id)
    if found is None:
        raise NotFoundException(detail="No such link.")
    return found


async def _qr(
    request: Request[Any, Any, Any], ctx: Ctx, link_id: int, kind: Literal["svg", "png"]
) -> Response[bytes]:
    """A link's QR code as a file to save or print (the CLI's `link add --qr` writes the same)."""
    url = link_url(_public_url(request, ctx), await _admin_link(ctx, link_id))
    disposition = f'inline; filename="spiegel-link-{link_id}.{kind}"'
    return Response(
        qr_file(url, kind), media_type=QR_TYPES[kind], headers={"Content-Disposition": disposition}
    )


@get("/admin/links/{link_id:int}/qr.svg", guards=[admin_only], include_in_schema=False)
async def link_qr_svg(
    link_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[bytes]:
    return await _qr(request, ctx, link_id, "svg")


@get("/admin/links/{link_id:int}/qr.png", guards=[admin_only], include_in_schema=False)
async def link_qr_png(
    link_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[bytes]:
    return await _qr(request, ctx, link_id, "png")


@get("/admin/links/{link_id:int}/print", guards=[admin_only], include_in_schema=False)
async def link_print(link_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """An A6 card to print: the code 80 mm wide, the team and the address under it."""
    found = await _admin_link(ctx, link_id)
    url = link_url(_public_url(request, ctx), found)
    context = {"link": found, "url": url, "qr": qr_svg(url)}
    return Template("admin/links_print.html", context=context, headers=PRIVATE)


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


async def _keys_page(
    request: Request[Any, Any, Any],
    ctx: Ctx,
    made: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Template:
    teams = await people.list_teams(ctx.db)
    return _admin(
        request,
        "apikeys.html",
        status,
        keys=await auth.list_api_keys(ctx.db),
        teams=[t for t in teams if not t.archived],
        team_names={t.id: t.name for t in teams},
        scopes=callers.SCOPES,
        made=made,
        problem=problem,
        zone=ctx.settings.zone,
        when=when,
    )


@get("/admin/apikeys", guards=[admin_only], include_in_schema=False)
async def keys_admin(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """API keys: make one (shown once), see their last use, revoke."""
    return await _keys_page(request, ctx)


@post("/admin/apikeys", guards=[admin_only], include_in_schema=False)
async def keys_add(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    form = await request.form()
    known = {t.id for t in await people.list_teams(ctx.db) if not t.archived}
    try:
        teams = [int(str(v)) for v in form.getall("team")] if "team" in form else []
        if not set(teams) <= known:
            raise ValueError("choose teams from the list")
        scopes = [str(v) for v in form.getall("scope")] if "scope" in form else []
        key = await auth.create_api_key(
            ctx.db, str(form.get("name", "")), teams or None, ctx.clock(), scopes
        )
    except ValueError as exc:
        return await _keys_page(request, ctx, problem=str(exc), status=400)
    return await _keys_page(request, ctx, made=key)


@post("/admin/apikeys/{key_id:int}/revoke", guards=[admin_only], include_in_schema=False)
async def keys_revoke(key_id: FromPath[int], ctx: Ctx) -> Redirect:
    await auth.revoke_api_key(ctx.db, key_id, ctx.clock())
    return Redirect("/admin/apikeys", status_code=303)


def when(at: int | None, zone: ZoneInfo) -> str:
    """A moment as the admin pages show it, to the minute, in the organisation's zone."""
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


route_handlers = [
    link_asset,
    link_page,
    links_admin,
    links_add,
    links_disable,
    link_qr_svg,
    link_qr_png,
    link_print,
    import_admin,
    import_post,
    keys_admin,
    keys_add,
    keys_revoke,
]
