"""One way to serve a front end: shell, worker, catalogue and files, shared modules served once
from pwa/ under each app's prefix, a release and a precache list read from the files."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import staffapp
from server.staffapp import FrontEnd

PWA = Path(__file__).resolve().parent.parent / "pwa"
PRECACHE = re.compile(r"^const PRECACHE = (\[.*\]);$", re.M)
SHELL = """<!doctype html><html><head>
<link rel="manifest" href="/tablet/manifest.webmanifest">
<link rel="stylesheet" href="/tablet/app.css">
<link rel="preload" href="/api/v1/questions" as="fetch" crossorigin>
<script type="module" src="/tablet/tablet.js"></script>
</head><body><a href="/app/">elsewhere</a><img src="icons/icon.svg" alt=""></body></html>"""
WORKER = """import { Outbox } from './outbox.js';
const VERSION = 'dev';
const PRECACHE = [];
"""


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A copy of pwa/, so that a test may change a shared module."""
    folder = tmp_path / "pwa"
    shutil.copytree(PWA, folder)
    return folder


@pytest.fixture
def tablet(tmp_path: Path, shared: Path) -> FrontEnd:
    """A third front end, as the kiosk is made: its own folder, the shared modules from pwa/."""
    folder = tmp_path / "tablet"
    (folder / "lazy").mkdir(parents=True)
    (folder / "index.html").write_text(SHELL, "utf-8")
    (folder / "sw.js").write_text(WORKER, "utf-8")
    (folder / "tablet.js").write_text(
        "import { Outbox } from './outbox.js';\nimport { h } from './dom.js';\n"
        "const later = () => import('./lazy/more.js');\n",
        "utf-8",
    )
    (folder / "lazy" / "more.js").write_text("import { t } from '../i18n.js';\n", "utf-8")
    (folder / "unused.js").write_text("export const nothing = 1;\n", "utf-8")
    manifest = {"icons": [{"src": "/tablet/icons/icon-192.png", "sizes": "192x192"}]}
    (folder / "manifest.webmanifest").write_text(json.dumps(manifest), "utf-8")
    return FrontEnd("tablet", folder, "kiosk.", pages=("pair",), shared=shared)


@pytest.fixture
async def served(tablet: FrontEnd) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar(route_handlers=[*staffapp.routes(staffapp.STAFF), *staffapp.routes(tablet)])
    async with AsyncTestClient(app) as client:
        yield client


def listed(worker: str) -> list[str]:
    match = PRECACHE.search(worker)
    assert match, "the served worker carries its precache list"
    found: list[str] = json.loads(match.group(1))
    return found


async def test_shared_module_is_served_under_each_prefix_from_the_one_file(
    served: AsyncTestClient[Litestar], shared: Path
) -> None:
    for url in ("/app/outbox.js", "/tablet/outbox.js"):
        response = await served.get(url)
        assert response.status_code == 200, url
        assert response.content == (PWA / "outbox.js").read_bytes()
    assert (await served.get("/tablet/icons/icon-192.png")).headers["content-type"] == "image/png"


async def test_app_files_are_not_served_to_another_front_end(
    served: AsyncTestClient[Litestar],
) -> None:
    # The staff app's own modules and the tablet's are each their own app's.
    assert (await served.get("/tablet/app.js")).status_code == 404
    assert (await served.get("/tablet/history.js")).status_code == 404
    assert (await served.get("/app/tablet.js")).status_code == 404
    assert (await served.get("/tablet/../pwa/app.js")).status_code == 404
    assert (await served.get("/tablet/tablet.js")).status_code == 200


async def test_named_pages_are_the_shell(served: AsyncTestClient[Litestar]) -> None:
    shell = (await served.get("/tablet/")).text
    assert shell == SHELL
    assert (await served.get("/tablet/pair?code=ABCD2345")).text == SHELL
    assert (await served.get("/tablet/elsewhere")).status_code == 404


async def test_each_front_end_gets_its_part_of_the_catalogue_and_the_faces(
    served: AsyncTestClient[Litestar],
) -> None:
    staff = (await served.get("/app/i18n/en.json")).json()
    tablet = (await served.get("/tablet/i18n/en.json")).json()
    assert staff["face.5.5"] == tablet["face.5.5"]
    assert not any(key.startswith("kiosk.") for key in staff)
    assert not any(key.startswith("app.") for key in tablet)


async def test_worker_lists_what_the_shell_needs_read_from_the_files(
    served: AsyncTestClient[Litestar],
) -> None:
    worker = (await served.get("/tablet/sw.js")).text
    assert listed(worker) == [
        "/tablet/",
        "/tablet/api.js",  # imported by outbox.js, shared
        "/tablet/app.css",
        "/tablet/dom.js",
        "/tablet/i18n.js",  # imported by lazy/more.js as ../i18n.js
        "/tablet/i18n/en.json",
        "/tablet/i18n/nl.json",
        "/tablet/icons/icon-192.png",  # named by the manifest
        "/tablet/icons/icon.svg",  # relative in the shell
        "/tablet/lazy/more.js",  # a dynamic import
        "/tablet/manifest.webmanifest",
        "/tablet/outbox.js",
        "/tablet/tablet.js",
    ]
    assert re.search(r"^const VERSION = '[0-9a-f]{16}';$", worker, re.M)


async def test_staff_worker_precaches_the_shell_its_modules_texts_and_icons(
    served: AsyncTestClient[Litestar],
) -> None:
    urls = listed((await served.get("/app/sw.js")).text)
    shell = (PWA / "index.html").read_text("utf-8")
    preloaded = set(re.findall(r'rel="modulepreload" href="([^"]+)"', shell))
    assert preloaded and preloaded <= set(urls)
    assert {"/app/", "/app/app.js", "/app/app.css", "/app/manifest.webmanifest"} <= set(urls)
    assert {"/app/i18n/nl.json", "/app/i18n/en.json", "/app/icons/maskable-512.png"} <= set(urls)
    # Neither the workers themselves, the API nor the manager view's files.
    assert not [u for u in urls if u.endswith("sw.js") or "manager" in u or "/api/" in u]
    for url in urls:
        assert (await served.get(url)).status_code == 200, url


def test_release_covers_the_shared_modules(tablet: FrontEnd, shared: Path) -> None:
    before = staffapp.release(tablet)
    (shared / "outbox.js").write_text("// changed\n", "utf-8")
    staffapp.release.cache_clear()
    try:
        assert staffapp.release(tablet) != before
    finally:
        staffapp.release.cache_clear()


def test_release_differs_per_front_end(tablet: FrontEnd) -> None:
    assert staffapp.release(tablet) != staffapp.release(staffapp.STAFF)
