"""Kiosk sync benchmark: 10,000 answers queued in a paired kiosk's outbox (a tablet offline
for days) sent to a running server when it comes back online, in real Chromium.

Run by hand (pytest does not collect tests/bench):

    .venv/bin/python tests/bench/bench_kiosk.py             # --answers 10000 --runs 3

Each run makes a temporary database, adds a team and a kiosk with `spiegel kiosk add`, starts
`spiegel serve` on 127.0.0.1, pairs a fresh browser profile through the kiosk's pairing page,
takes it offline, fills its outbox with the answers (one IndexedDB transaction, in the shape
the outbox writes them), and then times from going online until the outbox is empty and the
database holds every answer exactly once. Every process it starts is stopped by its own id.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_SECONDS = 10.0
DAY_MS = 24 * 3600 * 1000

FILL = """([count, question, spanMs]) => new Promise((resolve, reject) => {
  const open = indexedDB.open('spiegel-outbox-kiosk');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(['answers', 'holder'], 'readwrite');
    const start = Date.now() - spanMs;
    tx.objectStore('holder').get('holder').onsuccess = (event) => {
      const owner = event.target.result.owner;
      const store = tx.objectStore('answers');
      for (let i = 0; i < count; i += 1) {
        const id = crypto.randomUUID();
        const at = new Date(start + Math.floor((i * spanMs) / count)).toISOString();
        const answer = { id, question, value: 1 + (i % 2), answered_at: at };
        store.add({ id, answer, state: 'queued', queuedAt: start + i, owner });
      }
    };
    tx.oncomplete = () => { db.close(); resolve(count); };
    tx.onerror = () => reject(tx.error);
  };
})"""

QUEUED = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('spiegel-outbox-kiosk');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const all = db.transaction('answers').objectStore('answers').count();
    all.onsuccess = () => { db.close(); resolve(all.result); };
  };
})"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(db_path: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIEGEL_")}
    env.update(PYTHONPATH=str(ROOT), SPIEGEL_DATABASE=db_path, SPIEGEL_PORT=str(port))
    return env


def cli(db_path: str, port: int, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env=env_for(db_path, port),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@contextmanager
def serving(db_path: str, port: int, log: Path) -> Iterator[str]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            cwd=ROOT,
            env=env_for(db_path, port),
            stdout=out,
            stderr=out,
            start_new_session=True,  # its worker is in its group: ended with it below
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(log.read_text())
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("spiegel serve did not become healthy")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def stored(db_path: str) -> tuple[int, int]:
    with sqlite3.connect(db_path, timeout=5) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM answers"
        ).fetchone()
    return int(total), int(distinct)


def pair(page: Page, code: str) -> None:
    page.goto(f"/kiosk/pair?code={code}")
    page.locator("#pair").click()
    page.locator("[data-view=question]").wait_for()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def one_run(answers: int, work: Path) -> float:
    db_path = str(work / "spiegel.db")
    port = free_port()
    cli(db_path, port, "team", "add", "--name", "Winkel")
    added = cli(
        db_path, port, "kiosk", "add", "--name", "Vloer", "--team", "Winkel", "--pin", "2468"
    )
    code = re.search(r"code=([0-9A-Z]{8})", added)
    assert code is not None, added
    with serving(db_path, port, work / "serve.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=url, service_workers="allow")
            context.set_default_timeout(30_000)
            page = context.new_page()
            pair(page, code.group(1))
            context.set_offline(True)
            page.evaluate(FILL, [answers, 1, 3 * DAY_MS])
            assert page.evaluate(QUEUED) == answers
            started = time.monotonic()
            context.set_offline(False)
            page.evaluate("window.dispatchEvent(new Event('online'))")
            while page.evaluate(QUEUED) or stored(db_path)[0] < answers:
                if time.monotonic() - started > 300:
                    raise RuntimeError("the sync did not finish in 5 minutes")
                time.sleep(0.05)
            seconds = time.monotonic() - started
        finally:
            browser.close()
    total, distinct = stored(db_path)
    assert total == distinct == answers, (total, distinct, answers)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-kiosk-") as tmp:
            seconds = one_run(args.answers, Path(tmp))
        results.append(seconds)
        rate = args.answers / seconds
        print(f"run {run + 1}: {args.answers} answers in {seconds:.2f} s ({rate:,.0f}/s)")
    best, worst = min(results), max(results)
    print(f"best {best:.2f} s, worst {worst:.2f} s; target under {TARGET_SECONDS:.0f} s")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
