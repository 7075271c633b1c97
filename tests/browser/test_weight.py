"""The first load of the staff app is light, and it asks no other origin for anything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Request

from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, wait_ready

BUDGET = 60 * 1024
DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"


@dataclass
class Transfer:
    path: str
    by_worker: bool
    size: int  # compressed body plus response headers, as they crossed the wire


def transfers(requests: list[Request]) -> list[Transfer]:
    found = []
    for request in requests:
        response = request.response()
        if response is None:
            continue
        sizes = request.sizes()
        found.append(
            Transfer(
                urlsplit(request.url).path,
                request.service_worker is not None,
                sizes["responseBodySize"] + sizes["responseHeadersSize"],
            )
        )
    return found


def is_code(transfer: Transfer) -> bool:
    """HTML, CSS, JS, manifest and texts: what the budget counts (icons and data excluded)."""
    return transfer.path.startswith("/app/") and not transfer.path.startswith("/app/icons/")


def test_first_load_stays_under_60_kb_and_on_one_origin(
    browser: Browser, server: LiveServer
) -> None:
    context = browser.new_context(base_url=server.url, viewport=PHONE, locale="nl-NL")
    try:
        page = context.new_page()
        _, token = server.add_staff()
        page.goto(f"/signin/{token}")
        seen: list[Request] = []
        context.on("request", lambda request: seen.append(request))
        page.get_by_role("button").click()
        page.wait_for_url("**/app/")
        wait_ready(page)
        page.wait_for_load_state("networkidle")
        page.evaluate("navigator.serviceWorker.ready")
        loaded = transfers(seen)
    finally:
        context.close()

    origins = {f"{urlsplit(r.url).scheme}://{urlsplit(r.url).netloc}" for r in seen}
    assert origins == {server.url}
    page_code = sum(t.size for t in loaded if is_code(t) and not t.by_worker)
    worker_code = sum(t.size for t in loaded if is_code(t) and t.by_worker)
    data = sum(t.size for t in loaded if t.path.startswith("/api/"))
    icons = sum(t.size for t in loaded if t.path.startswith("/app/icons/"))
    report = (
        f"page: {page_code / 1024:.1f} KB; service worker precache: {worker_code / 1024:.1f} KB;"
        f" API data: {data / 1024:.1f} KB; icons: {icons / 1024:.1f} KB\n"
        + "".join(f"{t.size:7d} {'sw  ' if t.by_worker else 'page'} {t.path}\n" for t in loaded)
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "page-weight.txt").write_text(report, "utf-8")
    assert page_code <= BUDGET, report
    assert page_code + worker_code <= BUDGET, report

    # docs/performance.md states the figure; it must not drift far from what is measured.
    stated = re.search(r"first load transfers \*\*([\d.]+) KB\*\*", DOC.read_text("utf-8"))
    assert stated, "docs/performance.md states the staff app's first-load weight"
    assert abs(float(stated.group(1)) * 1024 - page_code) <= max(2048, 0.15 * page_code), report
