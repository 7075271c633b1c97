"""One message catalogue for the server's pages and the apps, in Dutch and English."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NamedTuple

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"


@cache
def catalogue(language: str) -> dict[str, str]:
    path = Path(__file__).parent / "messages" / f"{language}.json"
    data: dict[str, str] = json.loads(path.read_text("utf-8"))
    return data


class Offer(NamedTuple):
    """The languages an organisation offers its people (a subset of LANGUAGES, in order) and
    the one for someone whose person and browser name none of them."""

    languages: tuple[str, ...] = LANGUAGES
    default: str = DEFAULT_LANGUAGE

    def pick(self, accept_language: str | None, preferred: str | None = None) -> str:
        return negotiate(accept_language, preferred, self)


def negotiate(
    accept_language: str | None, preferred: str | None = None, offer: Offer | None = None
) -> str:
    """The person's own setting first, else the browser's first language on offer, else the
    organisation's default."""
    offer = offer or Offer()
    if preferred in offer.languages:
        return str(preferred)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in offer.languages:
            return tag
    return offer.default


def translator(language: str) -> Callable[..., str]:
    messages = catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE)

    def translate(key: str, **values: object) -> str:
        text = messages.get(key, key)
        return text.format(**values) if values else text

    return translate
