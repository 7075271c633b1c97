"""The admin screens that create, list, rename, move and revoke kiosks and give pairing codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from server import people
from server.admin import SECTIONS, Section, admin_only
from server.auth import principal_of
from server.callers import KIOSK_KINDS
from server.db import Database
from server.deps import Ctx
from server.kiosk.kiosks import (
    DEFAULT_FACES,
    MAX_NAME,
    PRECHECK_KINDS,
    KioskError,
    KioskRow,
    _team_id,
    check_spec,
    create_kiosk,
    get_kiosk,
    list_kiosks,
    update_kiosk,
)
from server.kiosk.pairing import (
    CODE_MINUTES,
    new_pairing_code,
    pair_url,
    qr_svg,
    revoke,
    shown_code,
)
from server.questions import Question, QuestionBook

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
    kiosks_page,
    add_kiosk,
    pairing_code,
    kiosk_page,
    change_kiosk,
    revoke_kiosk,
]
