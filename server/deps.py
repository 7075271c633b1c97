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


Ctx = NamedDependency[Context]
