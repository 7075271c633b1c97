"""The questions screen: texts, faces, asked or not; opening and closing mirror rounds."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from server import questions
from server.admin.common import Errors, _int, _page, _who, admin_only, audit
from server.admin.organisation import organisation
from server.deps import Context, Ctx


async def _questions_page(
    request: Request[Any, Any, Any],
    ctx: Context,
    errors: dict[int, Errors] | None = None,
    form: Any = None,
    status: int = 200,
) -> Template:
    return _page(
        request,
        "questions.html",
        "questions",
        status,
        questions=await questions.all_questions(ctx.db),
        rounds=await questions.mirror_rounds(ctx.db),
        aspects=await questions.mirror_aspects(ctx.db),
        smiley=questions.SMILEY_KINDS,
        mirror=questions.MIRROR_KINDS,
        errors=errors or {},
        form=form,
        org=await organisation(ctx.db),
    )


@get("/admin/questions", guards=[admin_only], include_in_schema=False)
async def questions_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Every question with its texts, faces and whether it is asked; mirror rounds."""
    return await _questions_page(request, ctx)


@post("/admin/questions/{question_id:int}", guards=[admin_only], include_in_schema=False)
async def change_question(
    question_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    form = await request.form()
    faces = _int(form.get("faces") or "")
    try:
        now_id = await questions.update_question(
            ctx.db,
            question_id,
            str(form.get("text_nl", "")),
            str(form.get("text_en", "")),
            faces,
            form.get("active") == "1",
            ctx.clock(),
        )
    except questions.QuestionError as exc:
        if exc.code == "unknown":
            raise NotFoundException(detail=f"No question {question_id}.") from exc
        errors = {question_id: {exc.field: f"admin.error.{exc.code}"}}
        return await _questions_page(request, ctx, errors, form, 400)
    await request.app.state.questions.reload(ctx.db)
    detail = "" if now_id == question_id else f"new faces: question {now_id}"
    await audit(
        ctx.db, _who(request), "question.update", f"question {question_id}", ctx.clock(), detail
    )
    return Redirect(f"/admin/questions#q{now_id}", status_code=303)


@post("/admin/mirror", guards=[admin_only], include_in_schema=False)
async def mirror_round(request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    """Open a mirror round on the chosen aspects, or close the open one."""
    form = await request.form()
    now = ctx.clock()
    if form.get("action") == "close":
        await questions.close_mirror_round(ctx.db, now)
        action, target = "mirror.close", "mirror round"
    else:
        aspects = [str(a) for a in form.getall("aspects", [])]
        try:
            await questions.open_mirror_round(ctx.db, aspects, now)
        except questions.QuestionError:
            return await _questions_page(
                request, ctx, {0: {"aspects": "admin.error.aspects"}}, None, 400
            )
        action, target = "mirror.open", " ".join(sorted(aspects))
    await request.app.state.questions.reload(ctx.db)
    await audit(ctx.db, _who(request), action, target, now)
    return Redirect("/admin/questions#mirror", status_code=303)


route_handlers = [questions_page, change_question, mirror_round]
