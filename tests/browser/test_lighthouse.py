"""The signed-in staff app in Lighthouse's mobile profile (simulated slow 4G, 4x slower CPU).

One run of the npm package (`make lighthouse` installs it into .venv/lighthouse/) in Debian's
chromium, through lighthouse_signed_in.mjs beside this file. Speed targets live in benchmarks,
never in timed tests: the score and the timings are only written to tests/artifacts/. What is
asserted cannot flake: accessibility, one origin, the bytes of the first load, and that nothing
the first screen needs waits for another request to be discovered.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext

from server.auth import SESSION_COOKIE
from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LiveServer, sign_in

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
LIGHTHOUSE_DIR = ROOT / ".venv" / "lighthouse"
SCRIPT = Path(__file__).with_name("lighthouse_signed_in.mjs")
REPORT = ARTIFACTS / "lighthouse-app.json"
SUMMARY = ARTIFACTS / "lighthouse-app.txt"
BUDGET = 60 * 1024
# The longest chain of render-critical requests, the document included: the page, then what it
# names itself. A module imported by a module that the page does not name adds a level.
CHAIN_DEPTH = 2
# The texts the shell preloads: Dutch, the app's own language (<html lang="nl">).
TEXTS = "/app/i18n/nl.json"
# On Linux Chrome ignores --lang; --accept-lang sets navigator.languages (and Accept-Language).
CHROME_FLAGS = ["--headless=new", *CHROMIUM_ARGS, "--accept-lang=nl-NL,nl"]
TIMEOUT = 240
METRICS = {
    "largest-contentful-paint": "LCP",
    "first-contentful-paint": "FCP",
    "total-blocking-time": "TBT",
    "cumulative-layout-shift": "CLS",
    "speed-index": "Speed Index",
}
STATIC_IMPORT = re.compile(r"""^\s*import\s(?:[^'"]*?\sfrom\s)?['"]\./([\w-]+\.js)['"]""", re.M)
LINK = re.compile(r"<link\s[^>]*>")


def run_lighthouse(url: str, cookies: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """One Lighthouse run, through its Node API, with the session cookie in Chrome's jar."""
    node = shutil.which("node")
    if node is None or not (LIGHTHOUSE_DIR / "node_modules" / "lighthouse").is_dir():
        pytest.fail(f"Lighthouse is missing: run `make lighthouse` (Node.js, {LIGHTHOUSE_DIR})")
    env = {
        **os.environ,
        "CHROME_PATH": CHROMIUM,
        "CHROME_FLAGS": json.dumps(CHROME_FLAGS),
        "LIGHTHOUSE_COOKIES": json.dumps(cookies),
        "LIGHTHOUSE_CATEGORIES": "performance,accessibility,best-practices",
        # chrome-launcher makes Chrome's profile with mktemp under TMPDIR and leaves Chrome's
        # pid in it: with TMPDIR in the test's own folder, a Chrome left behind can be ended.
        "TMPDIR": str(workdir),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    process = subprocess.Popen(
        [node, str(SCRIPT), str(LIGHTHOUSE_DIR), url, str(REPORT)],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # chrome-launcher closes its Chrome on SIGINT
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        pytest.fail(f"Lighthouse took more than {TIMEOUT} s\n{out}\n{err}")
    finally:
        end_chromes(workdir)
    assert process.returncode == 0, f"Lighthouse failed ({process.returncode})\n{out}\n{err}"
    report: dict[str, Any] = json.loads(REPORT.read_text("utf-8"))
    return report


def end_chromes(workdir: Path) -> None:
    """End a Chrome of this run that is still alive (chrome-launcher normally closes it)."""
    for pid_file in workdir.glob("lighthouse.*/chrome.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.killpg(int(pid_file.read_text().strip()), signal.SIGKILL)


def chains(tree: dict[str, Any], above: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path from the document to a leaf of Lighthouse's critical request chains."""
    found = []
    for node in tree.values():
        path = (*above, urlsplit(node["request"]["url"]).path)
        children = node.get("children") or {}
        found.extend(chains(children, path) if children else [path])
    return found


def summary(report: dict[str, Any], longest: tuple[str, ...]) -> str:
    audits = report["audits"]
    settings = report["configSettings"]
    lines = [
        f"Lighthouse {report['lighthouseVersion']}, {report['environment']['hostUserAgent']}",
        f"form factor {settings['formFactor']}, throttling {settings['throttlingMethod']}"
        f" (rtt {settings['throttling']['rttMs']} ms,"
        f" {settings['throttling']['throughputKbps']} kbps,"
        f" cpu x{settings['throttling']['cpuSlowdownMultiplier']})",
    ]
    lines += [f"{c['title']}: {c['score']}" for c in report["categories"].values()]
    for audit_id, name in METRICS.items():
        audit = audits[audit_id]
        lines.append(f"{name}: {audit['displayValue']} ({audit['numericValue']:.3f})")
    lines.append(f"transfer: {audits['total-byte-weight']['numericValue']:.0f} bytes")
    lines.append(f"longest critical chain: {' -> '.join(longest)}")
    lines.append("requests (transfer bytes, type, start as observed without throttling):")
    for item in audits["network-requests"]["details"]["items"]:
        lines.append(
            f"  {item['transferSize']:7.0f} {item['resourceType'] or '':10}"
            f" {item['networkRequestTime']:8.1f} ms {urlsplit(item['url']).path}"
        )
    return "\n".join(lines) + "\n"


def first_screen_modules() -> set[str]:
    """The module graph of app.js (static imports): what the first screen cannot run without."""
    found: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        for imported in STATIC_IMPORT.findall((PWA / name).read_text("utf-8")):
            if imported not in found:
                found.add(imported)
                todo.append(imported)
    return found


def head_links() -> list[dict[str, str]]:
    head = (PWA / "index.html").read_text("utf-8").split("</head>")[0]
    return [
        dict(re.findall(r'([\w-]+)(?:="([^"]*)")?', tag[len("<link") : -1]))
        for tag in LINK.findall(head)
    ]


def test_shell_preloads_every_module_and_the_texts_of_the_first_screen() -> None:
    # Lighthouse leaves preloaded requests out of its chains, and with them whatever they
    # import: a module imported only by a preloaded module would not show there. So the graph
    # is read here: every module named in the head, and nothing the app no longer imports.
    preloaded = {
        link["href"].removeprefix("/app/")
        for link in head_links()
        if link.get("rel") == "modulepreload"
    }
    assert preloaded == first_screen_modules()
    # i18n.js fetches with fetch()'s defaults (cors, same-origin credentials): only a preload
    # with a bare crossorigin matches; any other is fetched twice, with a console warning.
    texts = [link for link in head_links() if link.get("href") == TEXTS]
    assert texts == [{"rel": "preload", "href": TEXTS, "as": "fetch", "crossorigin": ""}]


def test_staff_app_in_lighthouse_mobile_profile(
    context: BrowserContext, server: LiveServer, tmp_path: Path
) -> None:
    page = context.new_page()
    sign_in(page, server)
    cookies = [dict(c) for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookies, "signed in"
    page.close()

    report = run_lighthouse(f"{server.url}/app/", cookies, tmp_path)
    audits = report["audits"]
    longest = max(chains(audits["critical-request-chains"]["details"]["chains"]), key=len)
    SUMMARY.write_text(summary(report, longest), "utf-8")
    details = SUMMARY.read_text("utf-8")

    assert not report.get("runtimeError"), report.get("runtimeError")
    assert report["configSettings"]["formFactor"] == "mobile"
    assert report["configSettings"]["throttlingMethod"] == "simulate"
    requests = [
        r
        for r in audits["network-requests"]["details"]["items"]
        if r.get("sessionTargetType", "page") == "page"
    ]
    paths = [urlsplit(r["url"]).path for r in requests]
    # Signed in: the first screen is today's questions, not the "not signed in" alert.
    assert [
        r["statusCode"] for r in requests if urlsplit(r["url"]).path == "/api/v1/questions"
    ] == [200], details

    assert report["categories"]["accessibility"]["score"] == 1.0, [
        audit_id
        for audit_id, audit in audits.items()
        if audit["scoreDisplayMode"] == "binary" and audit["score"] == 0
    ]
    origins = {
        f"{urlsplit(r['url']).scheme}://{urlsplit(r['url']).netloc}"
        for r in requests
        if urlsplit(r["url"]).scheme in ("http", "https")
    }
    assert origins == {server.url}
    assert audits["total-byte-weight"]["numericValue"] <= BUDGET, details
    assert len(longest) <= CHAIN_DEPTH, details
    # The preloaded texts and data were used: a preload that does not match the fetch (its
    # address, mode or credentials) fetches twice.
    for preloaded in (TEXTS, "/api/v1/me", "/api/v1/questions", "/api/v1/me/answers"):
        assert paths.count(preloaded) == 1, (preloaded, details)
    scripts = [urlsplit(r["url"]).path for r in requests if r["resourceType"] == "Script"]
    assert len(scripts) == len(set(scripts)), details
