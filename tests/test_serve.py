"""`spiegel serve` as an operator runs it: Granian in its own process, the access log redacted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import CSRF_INPUT, free_port
from tests.test_cli import LINK, ROOT, spiegel

SERVE = [sys.executable, "-m", "server.cli", "serve"]


def serve_env(db_path: str, port: int, **settings: str) -> dict[str, str]:
    """The environment of `spiegel serve`: this test's database and port, and settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIEGEL_")}
    env.update(PYTHONPATH=str(ROOT), SPIEGEL_DATABASE=db_path, SPIEGEL_PORT=str(port))
    env.update({f"SPIEGEL_{name.upper()}": value for name, value in settings.items()})
    return env


@contextmanager
def serving(
    db_path: str, log: Path, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`spiegel serve` in a child process; yields its URL once healthy, stops it by its pid."""
    port = free_port()
    env = serve_env(db_path, port, **settings)
    with log.open("wb") as out:
        process = subprocess.Popen(SERVE, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "spiegel serve did not become healthy"
                time.sleep(0.1)
            yield url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_serve_answers_stores_and_stops_cleanly(db_path: str, tmp_path: Path) -> None:
    assert spiegel(db_path, "team", "add", "--name", "Winkel").returncode == 0
    token = LINK.search(
        spiegel(
            db_path, "user", "add", "--email", "a@example.org", "--name", "Anna", "--team", "Winkel"
        ).stdout
    )
    assert token is not None
    log = tmp_path / "serve.log"
    with serving(db_path, log) as (url, process), httpx.Client(base_url=url) as browser:
        confirm = browser.get(f"/signin/{token.group(2)}")
        csrf = CSRF_INPUT.search(confirm.text)
        assert confirm.status_code == 200 and csrf is not None
        signed_in = browser.post(f"/signin/{token.group(2)}", data={"_csrf_token": csrf.group(1)})
        assert signed_in.status_code == 303
        questions = browser.get("/api/v1/questions").json()["questions"]
        checkin = next(q for q in questions if q["kind"] == "checkin")
        answer = {
            "id": "3f0c3c1e-8a52-4c3e-9d57-0a1b2c3d4e5f",
            "question": checkin["id"],
            "value": checkin["scale"]["max"],
            "answered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        }
        response = browser.post("/api/v1/answers", json={"answers": [answer]})
        assert response.json() == {"results": [{"id": answer["id"], "status": "stored"}]}
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    output = log.read_text()
    assert f"Spiegel is running at {url}/" in output
    assert "Traceback" not in output


def test_access_log_shows_requests_but_no_sign_in_token(db_path: str, tmp_path: Path) -> None:
    assert spiegel(db_path, "team", "add", "--name", "Winkel").returncode == 0
    out = spiegel(
        db_path, "user", "add", "--email", "a@example.org", "--name", "Anna", "--team", "Winkel"
    ).stdout
    link = LINK.search(out)
    assert link is not None
    token = link.group(2)
    log = tmp_path / "serve.log"
    with serving(db_path, log, access_log="true") as (url, _):
        assert httpx.get(f"{url}/signin/{token}").status_code == 200
        assert httpx.get(f"{url}/signin/{token}?from=mail").status_code == 200
    output = log.read_text()
    assert token not in output
    assert '"GET /signin/*** HTTP/1.1" 200' in output
    assert '"GET /healthz HTTP/1.1" 200' in output


def test_access_log_is_off_by_default(db_path: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(db_path, log) as (url, _):
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert "GET /healthz" not in log.read_text()


def test_a_taken_port_is_a_clear_error(db_path: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            SERVE,
            cwd=ROOT,
            env=serve_env(db_path, port),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Spiegel is running" not in done.stdout
