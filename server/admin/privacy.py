"""Data protection: the audit log's screen, a person's export and deletion, comment retention."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from server import answers, auth, people, reports
from server.admin.common import PRIVATE, _audit, _page, _who, admin_only, audit, audit_log
from server.admin.organisation import organisation
from server.admin.people import _person_or_404, _person_page
from server.callers import Principal
from server.deps import Context, Ctx

RETENTION_EVERY_SECONDS = 3600.0


@get("/admin/privacy", guards=[admin_only], include_in_schema=False)
async def privacy_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Retention, a person's export and deletion, and the audit log."""
    org = await organisation(ctx.db)
    log = await audit_log(ctx.db)
    zone = ctx.settings.zone
    for line in log:
        line["when"] = datetime.fromtimestamp(line["at"], zone).strftime("%Y-%m-%d %H:%M")
    return _page(
        request,
        "privacy.html",
        "privacy",
        org=org,
        log=log,
        people=await people.list_people(ctx.db),
    )


@get("/admin/people/{person_id:int}/export.json", guards=[admin_only], include_in_schema=False)
async def export_person(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[bytes]:
    """Everything stored about one person: who they are, their answers, their devices."""
    record = await people.person_record(ctx.db, person_id)
    if record is None:
        raise NotFoundException(detail=f"No person {person_id}.")
    body = {
        "person": record,
        "answers": await answers.answers_of_person(ctx.db, person_id),
        "devices": await auth.devices_of_person(ctx.db, person_id),
        "exported_at": int(ctx.clock()),
    }
    await audit(ctx.db, _who(request), "person.export", str(record["email"]), ctx.clock())
    name = f"spiegel-person-{person_id}.json"
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2).encode(),
        media_type="application/json",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@post("/admin/people/{person_id:int}/delete", guards=[admin_only], include_in_schema=False)
async def delete_person(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    """Delete a person and their answers; the figures are rebuilt without them. The form asks
    for their e-mail address again, so one slip of the finger cannot do it."""
    person = await _person_or_404(ctx.db, person_id)
    form = await request.form()
    if str(form.get("confirm", "")).strip().lower() != person.email:
        return await _person_page(
            request, ctx, person, None, {"confirm": "admin.error.confirm"}, 400
        )
    if person.role == "admin" and person.active and await people.count_admins(ctx.db) <= 1:
        return await _person_page(
            request, ctx, person, None, {"confirm": "admin.error.last_admin"}, 400
        )
    count = await remove_person(ctx, _who(request), person)
    return Redirect(f"/admin/people?deleted={count}", status_code=303)


async def remove_person(ctx: Context, who: Principal | None, person: people.PersonRow) -> int:
    """One transaction: their answers out of the rollups, the answers, the person, the audit
    line. Taking their rows off costs their own answers; a rebuild reads everyone's
    (docs/performance.md: 33-40 s at 3.7 million answers, writes waiting all the while)."""
    await reports.ensure_rollups(ctx)
    now = ctx.clock()
    async with ctx.db.transaction() as tx:
        await reports.forget_person(tx, person.id)
        count = await answers.delete_of_person(tx, person.id)
        await people.delete_person(tx, person.id)
        await reports.recompute(tx, ctx.settings.timezone, rebuild=False)
        await _audit(tx, who, "person.delete", person.email, now, f"{count} answers")
    auth.recent_sessions(ctx.db).forget_person(person.id)
    return count


async def erase_old_comments(ctx: Context) -> int:
    """Erase comments older than the organisation's retention period (none if unset)."""
    org = await organisation(ctx.db)
    if not org.comment_retention_days:
        return 0
    now = ctx.clock()
    async with ctx.db.transaction() as tx:
        erased = await answers.erase_comments(tx, now - org.comment_retention_days * 86400)
        if erased:
            await reports.recompute(tx, ctx.settings.timezone, rebuild=False)
            await _audit(
                tx,
                None,
                "comments.erase",
                f"{erased} comments",
                now,
                f"older than {org.comment_retention_days} days",
            )
    return erased


class Retention:
    """Erases expired comments at start and then every hour, inside the app process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await erase_old_comments(self.ctx)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_SECONDS)
            with contextlib.suppress(Exception):  # a busy database: try again next hour
                await erase_old_comments(self.ctx)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


route_handlers = [privacy_page, export_person, delete_person]
