"""Pairing: one-time codes (15 minutes, throttled), device tokens, the kiosk as a caller."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

import segno

from server.auth import hash_token
from server.callers import KIOSK_KINDS, KIOSK_TOKEN_PREFIX, KioskMode, Principal, kiosk
from server.config import Settings
from server.db import Database, instance_secret
from server.kiosk.kiosks import PRECHECK_KINDS, _mode, check_spec, create_kiosk
from server.questions import QuestionBook

# Crockford's base 32: no I, L, O or U, so what is read aloud or typed is what was meant;
# 8 characters are 40 bits. Typing O for 0 and I or L for 1 is forgiven.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
CODE_MINUTES = 15
_CODE_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
# A pairing code has only 40 bits: hashed slowly, with a salt of this server's own, so that a
# copy of the database does not give away a live code (OWASP ASVS: short secrets need a
# slow hash). One hash per attempt, off the event loop.
CODE_ITERATIONS = 50_000
# Wrong, expired or used codes tried within the window: at most this many from one address,
# and this many from all addresses together (which bounds guessing any live code).
PAIR_WINDOW_SECONDS = 15 * 60
PAIR_TRIES_PER_ADDRESS = 20
PAIR_TRIES_ALL = 200

TOKEN_PREFIX = KIOSK_TOKEN_PREFIX


class PairRefused(Exception):
    """A pairing attempt that failed: wrong, expired, used or throttled."""

    def __init__(self, reason: str, retry_after: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(typed: str) -> str | None:
    """The code as issued from what was typed (any case, spaces, dashes), or None."""
    code = "".join(ch for ch in typed.upper() if ch not in " -\t").translate(_CODE_TYPOS)
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def shown_code(code: str) -> str:
    """Two groups of four, easier to read out and type."""
    return f"{code[:4]}-{code[4:]}"


_salts: dict[str, bytes] = {}


async def _code_hash(db: Database, code: str) -> str:
    salt = _salts.get(db.path)
    if salt is None:
        salt = (await asyncio.to_thread(instance_secret, db.path, "kiosk-pairing")).encode()
        _salts[db.path] = salt
    digest = await asyncio.to_thread(
        hashlib.pbkdf2_hmac, "sha256", code.encode(), salt, CODE_ITERATIONS
    )
    return digest.hex()


async def add_with_code(db: Database, form: dict[str, Any], now: float) -> tuple[int, str]:
    """Create a kiosk from form-like settings and give its first pairing code (the CLI's
    way in); raises the first KioskError if the settings cannot be stored."""
    book = QuestionBook()
    await book.reload(db)
    if not form.get("questions"):
        form = {**form, "questions": _default_questions(book, _mode(form.get("mode")))}
    spec, errors = await check_spec(db, book, form)
    if spec is None:
        raise next(iter(errors.values()))
    kiosk_id = await create_kiosk(db, spec, now)
    return kiosk_id, await new_pairing_code(db, kiosk_id, now)


def _default_questions(book: QuestionBook, mode: KioskMode | None) -> list[str]:
    kinds = KIOSK_KINDS[mode] if mode else frozenset()
    return [str(q.id) for q in book.by_id.values() if q.active and q.kind in PRECHECK_KINDS & kinds]


async def revoke(db: Database, kiosk_id: int, now: float) -> None:
    """The device token stops working at once; its codes too. The record and answers stay."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE kiosks SET token_hash = NULL, revoked_at = ? WHERE id = ?",
            (int(now), kiosk_id),
        )
        await tx.execute(
            "DELETE FROM kiosk_pairing_codes WHERE kiosk_id = ? AND used_at IS NULL", (kiosk_id,)
        )


async def principal_for_token(db: Database, token: str) -> Principal | None:
    """The kiosk a device token belongs to, if it is paired and not revoked."""
    row = await db.fetch_one(
        "SELECT id, name, team_id, mode, questions FROM kiosks"
        " WHERE token_hash = ? AND revoked_at IS NULL",
        (hash_token(token),),
    )
    if row is None:
        return None
    questions = frozenset(int(q) for q in row["questions"].split())
    return kiosk(row["id"], row["name"], row["team_id"], row["mode"], questions)


# --- pairing -----------------------------------------------------------------------------


async def new_pairing_code(db: Database, kiosk_id: int, now: float) -> str:
    """A one-time code for this kiosk, valid CODE_MINUTES; its earlier unused codes end."""
    code = new_code()
    digest = await _code_hash(db, code)
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM kiosk_pairing_codes WHERE kiosk_id = ? AND used_at IS NULL", (kiosk_id,)
        )
        await tx.execute(
            "INSERT INTO kiosk_pairing_codes (code_hash, kiosk_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (digest, kiosk_id, int(now), int(now) + CODE_MINUTES * 60),
        )
    return code


async def pair(db: Database, typed: str, address: str, now: float) -> tuple[str, int]:
    """Use a pairing code once: a new device token for its kiosk, and the kiosk's id. Pairing
    a kiosk again (a new code for the same kiosk) keeps its id, so answers the tablet queued
    under the old token are sent and stored as that kiosk's; the old token stops working."""
    wait = await _throttled(db, address, now)
    if wait:
        raise PairRefused("throttled", wait)
    code = normal_code(typed)
    row = None
    if code is not None:
        digest = await _code_hash(db, code)
        row = await db.fetch_one(
            "SELECT kiosk_id, expires_at, used_at FROM kiosk_pairing_codes WHERE code_hash = ?",
            (digest,),
        )
    if row is None or row["used_at"] is not None or row["expires_at"] <= now:
        reason = "wrong" if row is None else "used" if row["used_at"] is not None else "expired"
        await _failed(db, address, now)
        raise PairRefused(reason)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as tx:
        used, _ = await tx.execute(
            "UPDATE kiosk_pairing_codes SET used_at = ?"
            " WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            (int(now), digest, int(now)),
        )
        if used == 1:
            await tx.execute(
                "UPDATE kiosks SET token_hash = ?, paired_at = ?, revoked_at = NULL,"
                " last_seen_at = ? WHERE id = ?",
                (hash_token(token), int(now), int(now), row["kiosk_id"]),
            )
    if used != 1:  # another tablet used it a moment ago
        await _failed(db, address, now)
        raise PairRefused("used")
    return token, int(row["kiosk_id"])


async def _throttled(db: Database, address: str, now: float) -> int:
    """Seconds until this address may try again (0: now)."""
    since = int(now) - PAIR_WINDOW_SECONDS
    mine = await db.fetch_one(
        "SELECT COUNT(*) AS n, MIN(at) AS first FROM kiosk_pairing_failures"
        " WHERE address = ? AND at > ?",
        (address, since),
    )
    everyone = await db.fetch_one(
        "SELECT COUNT(*) AS n, MIN(at) AS first FROM kiosk_pairing_failures WHERE at > ?",
        (since,),
    )
    waits = [
        int(found["first"]) + PAIR_WINDOW_SECONDS - int(now)
        for found, limit in ((mine, PAIR_TRIES_PER_ADDRESS), (everyone, PAIR_TRIES_ALL))
        if found is not None and found["n"] >= limit
    ]
    return max([1, *waits]) if waits else 0


async def _failed(db: Database, address: str, now: float) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM kiosk_pairing_failures WHERE at <= ?", (int(now) - PAIR_WINDOW_SECONDS,)
        )
        await tx.execute(
            "INSERT INTO kiosk_pairing_failures (at, address) VALUES (?, ?)",
            (int(now), address[:100]),
        )


def pair_url(settings: Settings, code: str) -> str:
    return f"{settings.public_url}/kiosk/pair?code={code}"


def print_qr(url: str) -> None:
    """The pairing link as a QR code in the terminal, for `spiegel kiosk add`."""
    segno.make(url, error="m").terminal(compact=True)


def qr_svg(url: str) -> str:
    """The pairing link as an inline SVG QR code (segno: pure Python, no image library)."""
    return str(segno.make(url, error="m").svg_inline(scale=5, border=2, dark="#1a1f26"))
