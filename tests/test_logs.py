"""No secret reaches a log line: one-time sign-in tokens are redacted from access logs."""

from __future__ import annotations

import logging

from server.cli import RedactSignInTokens


def test_access_log_line_shows_no_sign_in_token() -> None:
    token = "Q538mMpHoO66MhiKjBc0IrcNekt-nqcKzvx2Vc6tN6s"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/signin/{token}?x=1", "1.1", 303),
        None,
    )
    assert RedactSignInTokens().filter(record)
    line = record.getMessage()
    assert token not in line
    assert '"POST /signin/***?x=1 HTTP/1.1" 303' in line


def test_other_access_log_lines_are_left_as_they_are() -> None:
    args = ("127.0.0.1:5000", "GET", "/api/v1/questions", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s %s %s %s %d", args, None
    )
    RedactSignInTokens().filter(record)
    assert record.args == args
