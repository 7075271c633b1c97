"""What the customer screens share: their sections on the admin home, the page frame, headers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from server import auth
from server.admin import SECTIONS, Section

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


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
