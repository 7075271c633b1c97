"""Demo data (being written)."""

from __future__ import annotations

from server.config import Settings
from server.db import Database


async def load(db: Database, settings: Settings, now: float) -> bool:
    raise NotImplementedError


async def sign_in_links(db: Database, settings: Settings, now: float) -> list[tuple[str, str, str]]:
    raise NotImplementedError
