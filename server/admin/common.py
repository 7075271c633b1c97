"""What every admin screen shares: sections, guard, page frame, form helpers, the audit log."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from server import auth
from server.auth import principal_of
from server.callers import Principal, Role
from server.db import Database, Writer

# --- the sections of the admin home: other rooms append theirs ------------------------------


class Section(msgspec.Struct, frozen=True):
    """A link on the admin home: its path and the message keys of its title and description."""

    path: str
    title: str
    text: str


SECTIONS: list[Section] = [
    Section("/admin/organisation", "admin.org.title", "admin.org.text"),
    Section("/admin/teams", "admin.teams.title", "admin.teams.text"),
    Section("/admin/people", "admin.people.title", "admin.people.text"),
    Section("/admin/questions", "admin.questions.title", "admin.questions.text"),
    Section("/admin/privacy", "admin.privacy.title", "admin.privacy.text"),
]
"""Kiosks, customer links and API keys: their rooms call `SECTIONS.append(Section(...))`."""


# --- the guard, the page frame, form helpers ----------------------------------------------

PRIVATE = {"Cache-Control": "no-store"}
ROLES = ("staff", "manager", "admin")


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a signed-in administrator; anyone else gets 401 or 403."""
    who = principal_of(connection)
    if who is None:
        auth.enforce_rate_limit(connection, "unauthenticated")
        raise NotAuthorizedException(detail="Sign in first.")
    if not who.has_role("admin"):
        raise PermissionDeniedException(detail="This page is for administrators.")


def _role(value: Any) -> Role:
    """A role from a form or a CSV cell; anything else reads as staff (callers check first)."""
    text = str(value or "").strip().lower()
    return cast("Role", text if text in ROLES else "staff")


def _who(request: Request[Any, Any, Any]) -> Principal:
    who = principal_of(request)
    assert who is not None  # admin_only has run
    return who


Errors = dict[str, str]  # form field -> message key


def chosen(form: Any, name: str) -> list[str]:
    """Every value of a field sent more than once (checkboxes), from a form or a dict."""
    getall = getattr(form, "getall", None)
    return [str(v) for v in (getall(name, []) if getall else form.get(name, []))]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _page(
    request: Request[Any, Any, Any], template: str, section: str, status: int = 200, **context: Any
) -> Template:
    common = {
        "who": _who(request),
        "section": section,
        "sections": SECTIONS,
        "href": lambda path: path,
    }
    return Template(
        f"admin/{template}", context={**common, **context}, status_code=status, headers=PRIVATE
    )


# --- the audit log ------------------------------------------------------------------------


async def audit(
    db: Database, who: Principal | None, action: str, target: str, now: float, detail: str = ""
) -> None:
    """Record one administrator's action: who, what, on what, when. Other rooms call it too."""
    async with db.transaction() as tx:
        await _audit(tx, who, action, target, now, detail)


async def _audit(
    tx: Writer, who: Principal | None, action: str, target: str, now: float, detail: str = ""
) -> None:
    actor = f"{who.name} <{who.email}>" if who and who.email else (who.name if who else "system")
    await tx.execute(
        "INSERT INTO audit_log (at, actor_id, actor, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (int(now), who.person_id if who else None, actor, action, target[:200], detail[:500]),
    )


async def audit_log(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) for row in rows]
