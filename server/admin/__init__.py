"""Administration, for administrators only: its route handlers and the names other rooms use."""

# This room writes its own tables (organisation, setup_tokens, audit_log); people, invites,
# questions and answers change through the named functions of the rooms that own them. Other
# rooms add their admin screens (kiosks, customer links, API keys) to SECTIONS, which the
# admin home lists. Pages are in server/templates/admin/.

from __future__ import annotations

from server.admin import organisation, people, privacy, questions, setup, teams
from server.admin.common import (
    PRIVATE,
    ROLES,
    SECTIONS,
    Errors,
    Section,
    admin_only,
    audit,
    audit_log,
    chosen,
)
from server.admin.organisation import (
    ENPS_MONTHS,
    Organisation,
    check_org_form,
    effective,
    offer,
    organisation_of_file,
    organisation_sources,
)
from server.admin.people import CSV_FIELDS, parse_csv, qr_svg
from server.admin.privacy import (
    RETENTION_EVERY_SECONDS,
    Retention,
    erase_old_comments,
    remove_person,
)
from server.admin.setup import SETUP_HOURS, issue_setup_link
from server.admin.teams import tree

__all__ = [
    "CSV_FIELDS",
    "ENPS_MONTHS",
    "PRIVATE",
    "RETENTION_EVERY_SECONDS",
    "ROLES",
    "SECTIONS",
    "SETUP_HOURS",
    "Errors",
    "Organisation",
    "Retention",
    "Section",
    "admin_only",
    "audit",
    "audit_log",
    "check_org_form",
    "chosen",
    "effective",
    "erase_old_comments",
    "issue_setup_link",
    "offer",
    "organisation_of_file",
    "organisation_sources",
    "parse_csv",
    "qr_svg",
    "remove_person",
    "route_handlers",
    "tree",
]

# In the order of the admin home's sections, as before the room became a package.
route_handlers = [
    *setup.route_handlers,
    *organisation.route_handlers,
    *teams.route_handlers,
    *people.route_handlers,
    *questions.route_handlers,
    *privacy.route_handlers,
]
