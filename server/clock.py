"""The one source of 'now': the system clock in production, a fake one in tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
