"""Customer channels: links and their QR codes, CSV imports of customer scores, API key screens."""

# This room writes its own table, customer_links. Answers are stored only through
# `answers.store_batch`; keys are made and revoked through auth's named functions; questions an
# import needs are found or added through `questions.ensure_question`. Its admin screens (links,
# import, API keys) are among the admin home's SECTIONS; pages are in server/templates/admin/,
# the customer's page in server/templates/customer/.

from __future__ import annotations

from server.customers import imports, keys, links
from server.customers.imports import (
    ImportError_,
    ImportReport,
    import_file,
    import_questions,
    parse_scale,
    parse_when,
)
from server.customers.links import (
    QR_DPI,
    QR_MM,
    Link,
    LinkError,
    create_link,
    link_caller,
    link_questions,
    link_url,
    list_links,
    qr_file,
    set_link_disabled,
)

__all__ = [
    "QR_DPI",
    "QR_MM",
    "ImportError_",
    "ImportReport",
    "Link",
    "LinkError",
    "create_link",
    "import_file",
    "import_questions",
    "link_caller",
    "link_questions",
    "link_url",
    "list_links",
    "parse_scale",
    "parse_when",
    "qr_file",
    "route_handlers",
    "set_link_disabled",
]

# In the order of the admin home's sections, as before the room became a package.
route_handlers = [*links.route_handlers, *imports.route_handlers, *keys.route_handlers]
