"""One message catalogue for the server's pages and the apps, in Dutch and English."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"


@cache
def catalogue(language: str) -> dict[str, str]:
    path = Path(__file__).parent / "messages" / f"{language}.json"
    data: dict[str, str] = json.loads(path.read_text("utf-8"))
    return data


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The person's own setting first, else the browser's first language we speak."""
    if preferred in LANGUAGES:
        return str(preferred)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def translator(language: str) -> Callable[..., str]:
    messages = catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE)

    def translate(key: str, **values: object) -> str:
        text = messages.get(key, key)
        return text.format(**values) if values else text

    return translate
