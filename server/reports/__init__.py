"""Reports: the figures managers see, read from rollups, with the anonymity rule applied here.

What counts. A person's latest answer to a question on a local day counts (a contact
self-rating: the latest per contact); every anonymous answer (kiosk, link, API) counts. The
rollups of migration 0002 keep exactly those answers summed per team, ISO week and kind,
and per team, day and check-in question, updated by triggers in the transaction that stores
the answer, so a late answer is in the next page load's figures.

The anonymity rule (k = SPIEGEL_ANONYMITY_K, comments: SPIEGEL_COMMENT_K):

- The atom is a *cell*: one team (with every team below it), one ISO week, one kind of
  answer. Its respondents are distinct people (each counted in one team a week) plus
  anonymous answers. Per week and kind, `analytics.suppress` over the whole team tree hides
  every cell of fewer than k respondents and every cell whose hiding would otherwise be undone
  by subtracting (a parent minus its shown children, hiding the next-smallest sibling).
- Periods are whole ISO weeks: custom dates widen to Monday..Sunday (end capped at today), and
  the presets end with the current week. Every figure of a period is the sum of its *shown*
  cells only; a week whose cell is hidden is left out of the figure and counted in
  `left_out`. So any figure a manager can see, for any period, is a sum of shown cells, and
  the difference of two overlapping periods (or of a parent and its children) is again a sum
  of shown cells or a suppression gap of at least k: "period minus sub-period" yields a set of
  whole weeks, each of which had k respondents or was left out of both.
- Participation (distinct people over a period / active members) is not a sum of weeks; it
  counts people, never answers, and is shown when the period's people pass `suppress`.
  Residual risk, accepted: two overlapping periods can tell how many people answered only in
  the weeks between them, though not what they answered.
- The daily mood chart uses days whose check-ins pass `suppress` for that day; its points
  carry no n. Comments come from weeks whose staff (or, for customer comments, customer)
  respondents pass `suppress` with the comment threshold, without names or times, newest
  first.
- Self vs customer and the mirror use self-ratings and mirror answers from shown weeks only,
  and need k pairs (k answers per side and aspect).
- The lag correlation uses the team's shown weeks of the last 52, whatever the period; the
  control chart the last 28 days and the 56 before them.
- Figures of the current, unfinished week change as answers arrive: someone who watches a
  figure change can tell that the latest answers moved it. That is inherent in live figures.

Who sees what: managers the teams they manage and every team below them; admins all teams;
API keys with the reports:read scope their teams and below (all teams for a key without
teams); staff, links, kiosks and other keys nothing (403).
"""

# A package with a module per concept, like server/admin/: rollups.py (the rollup tables, their
# rebuild and the report worker's cache of their rows), org.py (the team tree and the caller's
# reach), figures.py (periods, cells, suppression, the figures, one request's Book), pages.py
# (what the pages and the API read, in the report worker: its `..._on` functions run there
# through db.ReadPool, pickled by reference, so they stay module-level functions), routes.py.

from __future__ import annotations

# Callers catch these and build zones through this package as before it became one.
from zoneinfo import ZoneInfo

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server.reports.figures import (
    Period,
    TeamSummary,
    Weeks,
    period_figures,
    period_from,
    previous,
    visibility,
)
from server.reports.org import Org, TeamRef
from server.reports.pages import (
    HEADER,
    Action,
    Overview,
    TeamDetail,
    TeamReport,
    add_action,
    compare,
    compare_on,
    overview,
    overview_on,
    team_detail,
    team_detail_on,
    today_of,
    visible_teams,
    visible_teams_on,
)
from server.reports.rollups import (
    ANONYMOUS,
    FIELDS,
    KIND,
    KINDS,
    PERSONS,
    ensure_rollups,
    forget_person,
    rebuild_statements,
    recompute,
    zone_offsets,
)
from server.reports.routes import route_handlers

__all__ = [
    "ANONYMOUS",
    "FIELDS",
    "HEADER",
    "KIND",
    "KINDS",
    "PERSONS",
    "Action",
    "NotFoundException",
    "Org",
    "Overview",
    "Period",
    "PermissionDeniedException",
    "TeamDetail",
    "TeamRef",
    "TeamReport",
    "TeamSummary",
    "Weeks",
    "ZoneInfo",
    "add_action",
    "compare",
    "compare_on",
    "ensure_rollups",
    "forget_person",
    "overview",
    "overview_on",
    "period_figures",
    "period_from",
    "previous",
    "rebuild_statements",
    "recompute",
    "route_handlers",
    "team_detail",
    "team_detail_on",
    "today_of",
    "visibility",
    "visible_teams",
    "visible_teams_on",
    "zone_offsets",
]
