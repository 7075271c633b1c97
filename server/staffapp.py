"""Serves the staff app (pwa/): its shell, service worker, manifest, modules and catalogues."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

from server import i18n

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _asset(folder: Path, name: str, cache: str) -> File:
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents or not path.is_file() or path.suffix not in _TYPES:
        raise NotFoundException(detail=f"no such file: {name}")
    return File(
        path,
        content_disposition_type="inline",
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": cache},
    )


@get("/app/", sync_to_thread=False, include_in_schema=False)
def shell() -> File:
    """The app shell; it holds no personal data, so the service worker may cache it."""
    return _asset(PWA_DIR, "index.html", "no-cache")


@get("/app/sw.js", sync_to_thread=False, include_in_schema=False)
def service_worker() -> File:
    # Served from /app/ itself so that its scope covers the whole app.
    return _asset(PWA_DIR, "sw.js", "no-cache")


@get("/app/i18n/{language:str}.json", sync_to_thread=False, include_in_schema=False)
def messages(language: FromPath[str]) -> Response[dict[str, str]]:
    """The same catalogue the server's pages use."""
    if language not in i18n.LANGUAGES:
        raise NotFoundException(detail=f"no catalogue for {language}")
    return Response(i18n.catalogue(language), headers={"Cache-Control": "no-cache"})


@get("/app/{name:path}", sync_to_thread=False, include_in_schema=False)
def asset(name: FromPath[Path]) -> File:
    return _asset(PWA_DIR, str(name).lstrip("/"), "no-cache")


route_handlers = [shell, service_worker, messages, asset]
