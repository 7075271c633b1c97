"""Serves the front ends: the staff app at /app/ (pwa/) and the kiosk at /kiosk/ (kiosk/), each
with its shell, service worker, manifest, modules and catalogue, by one set of rules; and the
manager view's worker and manifest."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from litestar import Request, Response, get
from litestar.datastructures import ETag
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

from server import i18n

ROOT = Path(__file__).resolve().parent.parent
PWA_DIR = ROOT / "pwa"

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
VERSION_MARK = "const VERSION = 'dev';"
PRECACHE_MARK = "const PRECACHE = [];"

# What every front end serves from pwa/ under its own prefix (the kiosk's /kiosk/outbox.js is
# pwa/outbox.js): one copy of the code, and each app's worker caches it in its own scope.
SHARED = ("api.js", "dom.js", "faces.js", "i18n.js", "network.js", "outbox.js", "app.css")
SHARED_FOLDERS = ("icons/",)
# Texts every front end carries besides its own: the faces' labels (faces.js).
SHARED_TEXTS = ("face.",)

_IMPORT = re.compile(
    r"""(?:^\s*(?:import|export)\s(?:[^'"]*?\sfrom\s)?|\bimport\(\s*)['"](\.{1,2}/[^'"]+)['"]""",
    re.M,
)
_REFERENCE = re.compile(r"""\s(?:href|src)="([^"]+)\"""")


@dataclass(frozen=True)
class FrontEnd:
    """One installable app: its folder, its address, its part of the catalogue."""

    name: str  # the address: /<name>/
    folder: Path
    texts: str  # its catalogue prefix, e.g. "app."
    # Addresses under the prefix that are pages of the app: the shell serves them.
    pages: tuple[str, ...] = ()
    shared: Path = PWA_DIR  # where the SHARED files come from

    @property
    def prefix(self) -> str:
        return f"/{self.name}/"

    def file(self, relative: str) -> Path | None:
        """The file served at prefix + relative: the app's own, else a shared one of pwa/."""
        if not is_file_name(relative):
            return None
        for folder in (self.folder, self.shared):
            path = (folder / relative).resolve()
            if folder.resolve() not in path.parents or not path.is_file():
                continue
            if folder == self.folder or _shared(relative):
                return path if path.suffix in _TYPES else None
        return None

    def files(self) -> Iterator[tuple[str, Path]]:
        """Every file this front end serves, by its name under the prefix."""
        seen: set[str] = set()
        for folder in (self.folder, self.shared):
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder).as_posix()
                if relative not in seen and self.file(relative) == path.resolve():
                    seen.add(relative)
                    yield relative, path


# What a name of one of our files looks like: short, plain characters, no dot-dot. Anything
# else is not ours, and is answered 404 before it reaches the file system (which raises on a
# NUL or an over-long name: a 500 with a traceback that anyone could cause).
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def is_file_name(name: str) -> bool:
    """Whether `name` could be one of the front ends' files (icons/icon.svg; no .., no control)."""
    parts = name.split("/")
    return len(parts) <= 4 and all(_FILE_NAME.fullmatch(p) and ".." not in p for p in parts)


def _shared(relative: str) -> bool:
    return relative in SHARED or relative.startswith(SHARED_FOLDERS)


STAFF = FrontEnd("app", PWA_DIR, "app.")
KIOSK = FrontEnd("kiosk", ROOT / "kiosk", "kiosk.", pages=("pair", "settings"))
FRONT_ENDS = (STAFF, KIOSK)


@cache
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:20]


def _unchanged(request: Request[Any, Any, Any], tag: str) -> bool:
    """Whether the browser holds this very version: a worker that precaches what the page has
    just fetched then moves a few headers instead of the whole app a second time."""
    return tag in (t.strip() for t in request.headers.get("if-none-match", "").split(","))


def _asset(
    request: Request[Any, Any, Any], path: Path | None, name: str, cache: str
) -> File | Response[None]:
    if path is None:
        raise NotFoundException(detail=f"no such file: {name}")
    tag = _digest(path, path.stat().st_mtime_ns)
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if _unchanged(request, f'"{tag}"'):
        return Response(None, status_code=304, headers={**headers, "ETag": f'"{tag}"'})
    return File(
        path,
        content_disposition_type="inline",
        media_type=_TYPES[path.suffix],
        headers=headers,
        etag=ETag(value=tag),
    )


def texts(front: FrontEnd, language: str) -> dict[str, str]:
    """The front end's part of the catalogue the server's pages use: one source for both."""
    wanted = (front.texts, *SHARED_TEXTS)
    return {k: v for k, v in i18n.catalogue(language).items() if k.startswith(wanted)}


@cache
def release(front: FrontEnd = STAFF) -> str:
    """A digest of the app's files (the shared ones included) and texts: any change makes a new
    worker and a new cache. Computed once: the files change only with a deployment, which
    restarts the server."""
    digest = hashlib.sha256()
    for relative, path in front.files():
        digest.update(relative.encode())
        digest.update(path.read_bytes())
    for language in i18n.LANGUAGES:
        digest.update(json.dumps(texts(front, language), sort_keys=True).encode())
    return digest.hexdigest()[:16]


@cache
def precache(front: FrontEnd) -> tuple[str, ...]:
    """What the worker keeps for offline use, read from the files: the shell, what it names,
    the modules they import, the manifest's icons, and the texts in every language."""
    found = {front.prefix}
    todo = ["index.html"]
    while todo:
        relative = todo.pop()
        path = front.file(relative)
        if path is None or path.suffix not in (".html", ".js", ".webmanifest"):
            continue
        for name in _references(front, relative, path.read_text("utf-8")):
            url = front.prefix + name
            if url not in found and front.file(name) is not None:
                found.add(url)
                todo.append(name)
    found.update(f"{front.prefix}i18n/{language}.json" for language in i18n.LANGUAGES)
    found.discard(front.prefix + "index.html")
    return (front.prefix, *sorted(found - {front.prefix}))


def _references(front: FrontEnd, relative: str, text: str) -> Iterator[str]:
    """The names under the front end's prefix that a shell, module or manifest refers to."""
    if relative.endswith(".js"):
        links = _IMPORT.findall(text)
    elif relative.endswith(".webmanifest"):
        links = [icon["src"] for icon in json.loads(text).get("icons", [])]
    else:
        links = _REFERENCE.findall(text)
    base = f"http://here{front.prefix}{relative}"
    for link in links:
        url = urlsplit(urljoin(base, link))
        if url.netloc == "here" and url.path.startswith(front.prefix):
            name = url.path.removeprefix(front.prefix)
            if name:
                yield name


def _worker(source: Path, front: FrontEnd, headers: dict[str, str] | None = None) -> Response[str]:
    # The browser compares a worker byte for byte on each visit: stamping the release into it
    # is what makes a deployment replace the cached app.
    stamped = source.read_text("utf-8").replace(
        VERSION_MARK, f"const VERSION = '{release(front)}';", 1
    )
    listed = json.dumps(list(precache(front)))
    stamped = stamped.replace(PRECACHE_MARK, f"const PRECACHE = {listed};", 1)
    sent = {"Cache-Control": REVALIDATE, "X-Content-Type-Options": "nosniff", **(headers or {})}
    return Response(stamped, media_type="text/javascript", headers=sent)


def routes(front: FrontEnd) -> list[Any]:
    """The shell, worker, catalogue and files of one front end, all under its prefix."""
    prefix = front.prefix
    opts: dict[str, Any] = {"sync_to_thread": False, "include_in_schema": False}

    @get(prefix, name=f"{front.name}-shell", **opts)
    def shell(request: Request[Any, Any, Any]) -> File | Response[None]:
        """The shell; it holds no personal data, so the service worker may cache it."""
        return _asset(request, front.file("index.html"), "index.html", REVALIDATE)

    @get(f"{prefix}sw.js", name=f"{front.name}-worker", **opts)
    def worker() -> Response[str]:
        """Served from the prefix itself so that its scope covers the whole app."""
        source = front.file("sw.js")
        if source is None:
            raise NotFoundException(detail="no service worker")
        return _worker(source, front)

    @get(f"{prefix}i18n/{{filename:str}}", name=f"{front.name}-texts", **opts)
    def messages(
        filename: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[dict[str, str] | None]:
        language, _, suffix = filename.partition(".")
        if suffix != "json" or language not in i18n.LANGUAGES:
            raise NotFoundException(detail=f"no catalogue {filename}")
        # The texts change only with a release: the release names their version.
        headers = {"Cache-Control": REVALIDATE, "ETag": f'"{release(front)}-{language}"'}
        if _unchanged(request, headers["ETag"]):
            return Response(None, status_code=304, headers=headers)
        return Response(texts(front, language), headers=headers)

    @get(f"{prefix}{{name:path}}", name=f"{front.name}-files", **opts)
    def asset(name: FromPath[Path], request: Request[Any, Any, Any]) -> File | Response[None]:
        relative = str(name).lstrip("/")
        if relative in front.pages:
            return _asset(request, front.file("index.html"), relative, REVALIDATE)
        cache = ICON_CACHE if relative.startswith("icons/") else REVALIDATE
        return _asset(request, front.file(relative), relative, cache)

    return [shell, worker, messages, asset]


@get("/manager/sw.js", sync_to_thread=False, include_in_schema=False)
def manager_worker() -> Response[str]:
    """The manager view's worker; its scope /manager also covers the overview at /manager."""
    return _worker(PWA_DIR / "manager-sw.js", STAFF, {"Service-Worker-Allowed": "/manager"})


@get("/manager/manifest.webmanifest", sync_to_thread=False, include_in_schema=False)
def manager_manifest(request: Request[Any, Any, Any]) -> File | Response[None]:
    """The manager view installs as an app of its own, in the staff app's look."""
    return _asset(request, PWA_DIR / "manager.webmanifest", "manager.webmanifest", REVALIDATE)


route_handlers = [*routes(STAFF), *routes(KIOSK), manager_worker, manager_manifest]
