"""Typed names of the app-wide dependencies that handlers ask for (provided in app.py)."""

from __future__ import annotations

from litestar.di import NamedDependency

from server.clock import Clock
from server.config import Settings
from server.db import Database

DB = NamedDependency[Database]
Conf = NamedDependency[Settings]
Now = NamedDependency[Clock]
