"""The staff app installs: manifest, icons and service worker pass Chromium's checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer, sign_in


def test_app_passes_chromium_installability_checks(
    playwright: Playwright, server: LiveServer, tmp_path: Path
) -> None:
    # A profile on disk: Chromium never offers to install from an incognito-like context.
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        base_url=server.url,
        viewport=PHONE,
    )
    try:
        page = context.new_page()
        sign_in(page, server)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == []
        assert manifest["url"].endswith("/app/manifest.webmanifest")
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.scope)")
        assert scope == f"{server.url}/app/"
    finally:
        context.close()


def test_manifest_names_the_app_and_its_icons(context: BrowserContext, server: LiveServer) -> None:
    response = context.request.get("/app/manifest.webmanifest")
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = json.loads(response.body())
    assert manifest["name"] == manifest["short_name"] == "Spiegel"
    assert manifest["start_url"] == manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        png = context.request.get(icon["src"])
        assert png.headers["content-type"] == "image/png"
        width = int.from_bytes(png.body()[16:20], "big")
        assert f"{width}x{width}" == icon["sizes"]


def test_app_files_carry_their_types_and_cache_rules(
    context: BrowserContext, server: LiveServer
) -> None:
    expected = {
        "/app/": ("text/html", "no-cache"),
        "/app/sw.js": ("text/javascript", "no-cache"),
        "/app/app.js": ("text/javascript", "no-cache"),
        "/app/outbox.js": ("text/javascript", "no-cache"),
        "/app/app.css": ("text/css", "no-cache"),
        "/app/i18n/nl.json": ("application/json", "no-cache"),
        "/app/icons/icon-192.png": ("image/png", "public, max-age=604800"),
    }
    for path, (kind, cache) in expected.items():
        response = context.request.get(path)
        assert response.status == 200, path
        assert response.headers["content-type"].split(";")[0] == kind, path
        assert response.headers["cache-control"] == cache, path
    assert context.request.get("/app/i18n/de.json").status == 404
    assert context.request.get("/app/../server/app.py").status == 404


def test_app_texts_are_the_app_part_of_the_server_catalogue(
    context: BrowserContext, server: LiveServer
) -> None:
    nl = context.request.get("/app/i18n/nl.json").json()
    en = context.request.get("/app/i18n/en.json").json()
    assert nl.keys() == en.keys()
    # Its own keys, and the faces' labels that the kiosk shares (pwa/faces.js).
    assert all(key.startswith(("app.", "face.")) for key in nl)
    assert "face.5.5" in nl and not any(key.startswith("kiosk.") for key in nl)
    assert nl["app.outbox.waiting.other"] == "{n} antwoorden wachten op verbinding"


def test_worker_carries_a_digest_of_the_release(
    context: BrowserContext, server: LiveServer
) -> None:
    first = context.request.get("/app/sw.js").text()
    assert re.search(r"const VERSION = '[0-9a-f]{16}';", first)
    assert context.request.get("/app/sw.js").text() == first


def test_installed_worker_keeps_exactly_the_files_the_server_listed(
    context: BrowserContext, server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, server)
    worker = context.request.get("/app/sw.js").text()
    listed = re.search(r"^const PRECACHE = (\[.*\]);$", worker, re.M)
    assert listed, "the server writes the precache list into the worker"
    urls = json.loads(listed.group(1))
    assert {"/app/", "/app/app.js", "/app/outbox.js", "/app/i18n/en.json"} <= set(urls)
    cached = page.evaluate(
        """async () => {
          const [name] = (await caches.keys()).filter((n) => n.startsWith('spiegel-app-'));
          const keys = await (await caches.open(name)).keys();
          return keys.map((request) => new URL(request.url).pathname);
        }"""
    )
    assert sorted(cached) == sorted(urls)
