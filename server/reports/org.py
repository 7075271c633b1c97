"""The team tree as reports read it, the caller's reach in it, the guard on asked-for teams."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import msgspec
import numpy as np
from litestar.exceptions import NotFoundException, PermissionDeniedException

from server.callers import READ_SCOPE, Principal


class TeamRef(msgspec.Struct, frozen=True):
    """A team; depth counts its ancestors among the teams the caller sees (for indenting)."""

    id: int
    name: str
    parent_id: int | None
    depth: int



# --- reading: the team tree --------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    """Every team in tree order, and the sums a subtree needs."""

    ids: list[int]
    names: list[str]
    parent_ids: list[int | None]
    index: dict[int, int]
    below: np.ndarray  # below[i, j] = 1 when team j is team i or lies under it
    members: np.ndarray  # active people whose team it is

    @property
    def parents(self) -> tuple[tuple[int, int | None], ...]:
        return tuple(zip(self.ids, self.parent_ids, strict=True))

    def subtree(self, i: int) -> list[int]:
        return [self.ids[j] for j in np.flatnonzero(self.below[i])]

    def positions(self, team_ids: np.ndarray) -> np.ndarray:
        """The index of each team id; len(ids) (one past the end) for an unknown one."""
        top = max(self.ids, default=0) + 1
        lookup = np.full(top + 1, len(self.ids), dtype=np.int64)
        lookup[self.ids] = np.arange(len(self.ids))
        return lookup[np.clip(np.asarray(team_ids, dtype=np.int64), 0, top)]


def read_org(conn: sqlite3.Connection) -> Org:
    rows = conn.execute("SELECT id, name, parent_id FROM teams").fetchall()
    known = {r[0] for r in rows}
    children: dict[int | None, list[tuple[str, int]]] = {}
    parent_of: dict[int, int | None] = {}
    for team, name, parent in rows:
        parent = parent if parent in known else None
        parent_of[team] = parent
        children.setdefault(parent, []).append((name, team))
    order: list[int] = []
    stack = sorted(children.get(None, []), reverse=True)
    while stack:
        _, team = stack.pop()
        order.append(team)
        stack.extend(sorted(children.get(team, []), reverse=True))
    names = {team: name for team, name, _ in rows}
    index = {team: i for i, team in enumerate(order)}
    below = np.zeros((len(order), len(order)))
    for i, team in enumerate(order):
        node: int | None = team
        while node is not None:
            below[index[node], i] = 1
            node = parent_of[node]
    members = np.zeros(len(order))
    for team, count in conn.execute(
        "SELECT team_id, COUNT(*) FROM people WHERE active = 1 AND team_id IS NOT NULL"
        " GROUP BY team_id"
    ):
        if team in index:
            members[index[team]] = count
    return Org(order, [names[t] for t in order], [parent_of[t] for t in order], index, below,
               members)  # fmt: skip


def reach(conn: sqlite3.Connection, who: Principal, org: Org) -> list[int] | None:
    """Indexes of the teams the caller may see, in tree order; None for a caller who may see
    no report at all (staff, a key without the read scope)."""
    if who.has_role("admin"):
        return list(range(len(org.ids)))
    if who.has_role("manager"):
        tops = [r[0] for r in conn.execute(
            "SELECT team_id FROM team_managers WHERE person_id = ?", (who.person_id,)
        )]  # fmt: skip
    elif who.channel == "apikey":
        # The key was found live for this very request (auth resolves it every time).
        if READ_SCOPE not in who.scopes:
            return None
        if who.allowed_teams is None:
            return list(range(len(org.ids)))
        tops = sorted(who.allowed_teams)
    else:
        return None
    seen = np.zeros(len(org.ids), dtype=bool)
    for team in tops:
        if team in org.index:
            seen |= org.below[org.index[team]] > 0
    return [int(i) for i in np.flatnonzero(seen)]


def team_refs(org: Org, visible: list[int]) -> list[TeamRef]:
    shown = set(visible)
    refs = []
    for i in visible:
        depth = int(sum(1 for a in np.flatnonzero(org.below[:, i]) if a != i and a in shown))
        refs.append(TeamRef(org.ids[i], org.names[i], org.parent_ids[i], depth))
    return refs


def _guard(org: Org, visible: list[int] | None, team_ids: list[int]) -> list[int]:
    if visible is None:
        raise PermissionDeniedException(detail="Reports are for managers and administrators.")
    for team in team_ids:
        if team not in org.index:
            raise NotFoundException(detail=f"No team {team}.")
        if org.index[team] not in visible:
            raise PermissionDeniedException(detail=f"Team {team} is not one of your teams.")
    return [org.index[t] for t in team_ids]
