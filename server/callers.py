"""The caller of a request as data: its channel, the team it answers for, what it may answer
and do. Auth resolves it once per request; routes ask it and never branch on its channel."""

from __future__ import annotations

from typing import Literal

import msgspec

Channel = Literal["person", "kiosk", "link", "apikey"]
Role = Literal["staff", "manager", "admin"]
Source = Literal["app", "kiosk", "link", "api", "import", "demo"]

STAFF_KINDS: frozenset[str] = frozenset({"checkin", "contact_self", "enps", "mirror_staff"})
CUSTOMER_KINDS: frozenset[str] = frozenset({"customer_csat", "customer_nps", "customer_mirror"})

WRITE_SCOPE = "answers:write"
READ_SCOPE = "reports:read"
SCOPES = (WRITE_SCOPE, READ_SCOPE)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, and everything the answer route and the guards need to know of it."""

    channel: Channel
    source: Source
    # The question kinds this caller may answer, and (kiosks, links) the only questions.
    kinds: frozenset[str] = frozenset()
    questions: frozenset[int] | None = None
    # The team its answers go to; whether an answer may name its own team instead, and then
    # which teams it may name (None: any team).
    team_id: int | None = None
    team_from_body: bool = False
    allowed_teams: frozenset[int] | None = None
    scopes: frozenset[str] = frozenset()
    person_id: int | None = None
    role: Role | None = None
    name: str = ""
    email: str = ""
    language: str | None = None
    api_key_id: int | None = None
    kiosk_id: int | None = None
    link_id: int | None = None
    via_cookie: bool = False

    @property
    def is_person(self) -> bool:
        return self.channel == "person"

    def has_role(self, *roles: Role) -> bool:
        """A signed-in person with one of these roles."""
        return self.is_person and self.role in roles


def person(
    person_id: int,
    role: Role,
    name: str,
    email: str,
    team_id: int | None,
    language: str | None,
) -> Principal:
    """A person signed in with a session: answers staff questions for their own team."""
    return Principal(
        channel="person",
        source="app",
        kinds=STAFF_KINDS,
        team_id=team_id,
        person_id=person_id,
        role=role,
        name=name,
        email=email,
        language=language,
        via_cookie=True,
    )


def api_key(
    key_id: int, name: str, teams: frozenset[int] | int | None, scopes: frozenset[str]
) -> Principal:
    """An API key: customer answers under the teams it is bound to (any team without a set);
    a key bound to one team needs not name it."""
    if isinstance(teams, int):
        teams = frozenset({teams})
    return Principal(
        channel="apikey",
        source="api",
        kinds=CUSTOMER_KINDS if WRITE_SCOPE in scopes else frozenset(),
        team_id=next(iter(teams)) if teams is not None and len(teams) == 1 else None,
        team_from_body=True,
        allowed_teams=teams or None,
        scopes=scopes,
        api_key_id=key_id,
        name=name,
    )


def link(link_id: int, name: str, team_id: int, questions: frozenset[int]) -> Principal:
    """A customer link (`/c/<token>`): its own questions, for its own team, anonymously."""
    return Principal(
        channel="link",
        source="link",
        kinds=CUSTOMER_KINDS,
        questions=questions,
        team_id=team_id,
        allowed_teams=frozenset({team_id}),
        link_id=link_id,
        name=name,
    )


KioskMode = Literal["staff", "customer"]
# Every kiosk device token starts with this, so auth tells it from an API key at a glance.
KIOSK_TOKEN_PREFIX = "kiosk_"
# A staff kiosk takes the anonymous end-of-shift check-in; a customer kiosk customer ratings.
KIOSK_KINDS: dict[KioskMode, frozenset[str]] = {
    "staff": frozenset({"checkin"}),
    "customer": CUSTOMER_KINDS,
}


def kiosk(
    kiosk_id: int, name: str, team_id: int, mode: KioskMode, questions: frozenset[int]
) -> Principal:
    """A paired kiosk: anonymous answers to its own questions, always for its own team."""
    return Principal(
        channel="kiosk",
        source="kiosk",
        kinds=KIOSK_KINDS[mode],
        questions=questions,
        team_id=team_id,
        team_from_body=False,
        kiosk_id=kiosk_id,
        name=name,
    )
