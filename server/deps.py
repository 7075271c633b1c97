"""What handlers need from the app, provided as one dependency (see Context)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency

from server.clock import Clock
from server.config import Settings
from server.db import Database


@dataclass(frozen=True, slots=True)
class Context:
    """The database, settings and clock together. One dependency rather than three: Litestar
    resolves independent dependencies in a task group, spawning a task for each per request."""

    db: Database
    settings: Settings
    clock: Clock

    def use(self, settings: Settings) -> None:
        """Apply settings changed in the admin screens (time zone, anonymity threshold) from
        the next request on; frozen otherwise, so no handler changes them by accident."""
        object.__setattr__(self, "settings", settings)


Ctx = NamedDependency[Context]
