"""Serves the staff app (pwa/): its shell, service worker, manifest, modules and catalogues."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

from server import i18n

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"

_TYPES = {
    # Litestar adds "; charset=utf-8" to text types itself.
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

# Code and texts are revalidated on every fetch: the service worker's versioned cache is what
# makes the app fast offline, so the HTTP cache must never hand the worker a stale copy.
REVALIDATE = "no-cache"
# Icons change almost never and a stale one harms nothing.
ICON_CACHE = "public, max-age=604800"
APP_PREFIX = "app."
VERSION_MARK = "const VERSION = 'dev';"


def _asset(folder: Path, name: str, cache: str) -> File:
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents or not path.is_file() or path.suffix not in _TYPES:
        raise NotFoundException(detail=f"no such file: {name}")
    return File(
        path,
        content_disposition_type="inline",
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


@get("/app/", sync_to_thread=False, include_in_schema=False)
def shell() -> File:
    """The app shell; it holds no personal data, so the service worker may cache it."""
    return _asset(PWA_DIR, "index.html", REVALIDATE)


@cache
def release() -> str:
    """A digest of the app's files and texts: any change makes a new worker and a new cache.
    Computed once: the files change only with a deployment, which restarts the server."""
    digest = hashlib.sha256()
    for path in sorted(PWA_DIR.rglob("*")):
        if path.is_file() and path.suffix in _TYPES:
            digest.update(path.relative_to(PWA_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    for language in i18n.LANGUAGES:
        digest.update(json.dumps(_app_texts(language), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _worker(name: str, headers: dict[str, str] | None = None) -> Response[str]:
    # The browser compares a worker byte for byte on each visit: stamping the release into it
    # is what makes a deployment replace the cached app.
    source = (PWA_DIR / name).read_text("utf-8")
    stamped = source.replace(VERSION_MARK, f"const VERSION = '{release()}';", 1)
    sent = {"Cache-Control": REVALIDATE, "X-Content-Type-Options": "nosniff", **(headers or {})}
    return Response(stamped, media_type="text/javascript", headers=sent)


@get("/app/sw.js", sync_to_thread=False, include_in_schema=False)
def service_worker() -> Response[str]:
    """Served from /app/ itself so that its scope covers the whole app."""
    return _worker("sw.js")


@get("/manager/sw.js", sync_to_thread=False, include_in_schema=False)
def manager_worker() -> Response[str]:
    """The manager view's worker; its scope /manager also covers the overview at /manager."""
    return _worker("manager-sw.js", {"Service-Worker-Allowed": "/manager"})


@get("/manager/manifest.webmanifest", sync_to_thread=False, include_in_schema=False)
def manager_manifest() -> File:
    """The manager view installs as an app of its own, in the staff app's look."""
    return _asset(PWA_DIR, "manager.webmanifest", REVALIDATE)


@get("/app/i18n/{filename:str}", sync_to_thread=False, include_in_schema=False)
def messages(filename: FromPath[str]) -> Response[dict[str, str]]:
    """The app's part of the catalogue the server's pages use: one source for both."""
    language, _, suffix = filename.partition(".")
    if suffix != "json" or language not in i18n.LANGUAGES:
        raise NotFoundException(detail=f"no catalogue {filename}")
    return Response(_app_texts(language), headers={"Cache-Control": REVALIDATE})


def _app_texts(language: str) -> dict[str, str]:
    return {k: v for k, v in i18n.catalogue(language).items() if k.startswith(APP_PREFIX)}


@get("/app/{name:path}", sync_to_thread=False, include_in_schema=False)
def asset(name: FromPath[Path]) -> File:
    relative = str(name).lstrip("/")
    cache = ICON_CACHE if relative.startswith("icons/") else REVALIDATE
    return _asset(PWA_DIR, relative, cache)


route_handlers = [shell, service_worker, manager_worker, manager_manifest, messages, asset]
