"""Kiosks (shared tablets): their route handlers and the names other rooms use."""

# This room writes its own tables (kiosks, kiosk_pairing_codes, kiosk_pairing_failures);
# answers a kiosk sends are stored by the answers room. A tablet is paired once with a short
# code and keeps a device token; its admin screen is one of the admin home's SECTIONS.
# Pages are in server/templates/admin/kiosks*.html, the tablet's app in kiosk/.

from __future__ import annotations

from server.kiosk import admin, device
from server.kiosk.kiosks import KioskError, default_reasons, kiosk_by_name, pin_hash
from server.kiosk.pairing import (
    CODE_ALPHABET,
    CODE_MINUTES,
    PAIR_TRIES_ALL,
    PAIR_TRIES_PER_ADDRESS,
    PAIR_WINDOW_SECONDS,
    _failed,
    add_with_code,
    hash_token,
    new_code,
    new_pairing_code,
    normal_code,
    pair,
    pair_url,
    principal_for_token,
    print_qr,
    revoke,
    shown_code,
)

__all__ = [
    "CODE_ALPHABET",
    "CODE_MINUTES",
    "PAIR_TRIES_ALL",
    "PAIR_TRIES_PER_ADDRESS",
    "PAIR_WINDOW_SECONDS",
    "KioskError",
    "_failed",
    "add_with_code",
    "default_reasons",
    "hash_token",
    "kiosk_by_name",
    "new_code",
    "new_pairing_code",
    "normal_code",
    "pair",
    "pair_url",
    "pin_hash",
    "principal_for_token",
    "print_qr",
    "revoke",
    "route_handlers",
    "shown_code",
]

# The tablet's API first, then the admin screens, as before the room became a package.
route_handlers = [*device.route_handlers, *admin.route_handlers]
