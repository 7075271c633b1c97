"""Customer links (`/c/<token>`): the links, their QR codes, the customer's page and its files."""

# A link's caller (`callers.link`) is resolved by auth from the `X-Spiegel-Link` header that the
# link's page sends with each batch (no cookie, no sign-in). One answer per contact reference and
# question through a link: the first stands, a second is refused (the answer route checks, the
# unique index of migration 0007 settles a race), and the page opened again for that reference
# says thank you instead of asking.

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Literal

import msgspec
import segno
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from server import answers, auth, callers, people, questions
from server.admin import admin_only
from server.auth import rate_limited
from server.callers import Principal
from server.customers.common import PRIVATE, _admin
from server.db import Database
from server.deps import Ctx

LINK_PATH = "/c/"
MAX_REF = answers.MAX_CONTACT_REF
MAX_NAME = 100


# This module is in server/customers/: the templates are in server/, the staff app beside it.
SCRIPT = Path(__file__).parent.parent / "templates" / "customer" / "link.js"
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


PWA = Path(__file__).resolve().parent.parent.parent / "pwa"
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


def _public_url(request: Request[Any, Any, Any], ctx: Ctx) -> str:
    if ctx.settings.base_url:
        return ctx.settings.public_url
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _links_page(
    request: Request[Any, Any, Any],
    ctx: Ctx,
    problem: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
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
        form=form or {},
        errors=errors or {},
    )


@get("/admin/links", guards=[admin_only], include_in_schema=False)
async def links_admin(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Customer links: make one, print its QR code, disable it."""
    return await _links_page(request, ctx)


@post("/admin/links", guards=[admin_only], include_in_schema=False)
async def links_add(request: Request[Any, Any, Any], ctx: Ctx) -> Template | Redirect:
    form = await request.form()
    book: questions.QuestionBook = request.app.state.questions
    typed = {key: str(form.get(key, "")) for key in ("name", "team", "smiley")}
    teams = {str(t.id) for t in await people.list_teams(ctx.db) if not t.archived}
    errors = {}
    if not 1 <= len(typed["name"].strip()) <= MAX_NAME:
        errors["name"] = "customer.links.error.name"
    if typed["team"] not in teams:
        errors["team"] = "customer.links.error.team"
    if errors:
        return await _links_page(request, ctx, None, 400, typed, errors)
    try:
        smiley = typed["smiley"]
        asked = link_questions(book, int(smiley) if smiley else None, form.get("nps") == "on")
        made = await create_link(ctx.db, typed["name"], int(typed["team"]), asked, ctx.clock())
    except (LinkError, ValueError) as exc:
        return await _links_page(request, ctx, str(exc), 400, typed)
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


route_handlers = [
    link_asset,
    link_page,
    links_admin,
    links_add,
    links_disable,
    link_qr_svg,
    link_qr_png,
    link_print,
]
