-- Kiosks: shared tablets on a wall or a counter, paired once with a short code. Answers they
-- send carry answers.kiosk_id (migration 0004); the team and the questions come from here.
CREATE TABLE kiosks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    team_id INTEGER NOT NULL REFERENCES teams (id),
    mode TEXT NOT NULL CHECK (mode IN ('staff', 'customer')),
    -- The question ids it asks, in order, separated by spaces.
    questions TEXT NOT NULL,
    -- Faces of its smiley questions in customer mode (a check at creation keeps them equal).
    faces INTEGER NOT NULL DEFAULT 4 CHECK (faces BETWEEN 2 AND 5),
    -- The follow-up reasons of customer mode, one per line (4 to 6; none in staff mode).
    reasons TEXT NOT NULL DEFAULT '',
    -- The PIN of the kiosk's own settings: PBKDF2-SHA256, so the tablet can check it offline.
    pin_salt TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    -- SHA-256 of the device token (256 random bits); NULL until paired.
    token_hash TEXT UNIQUE,
    paired_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL,
    -- What the last heartbeat said.
    last_seen_at INTEGER,
    queued INTEGER,
    app_release TEXT
);

-- One-time pairing codes, kept as a slow hash (PBKDF2): a code has only 40 bits.
CREATE TABLE kiosk_pairing_codes (
    code_hash TEXT PRIMARY KEY,
    kiosk_id INTEGER NOT NULL REFERENCES kiosks (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX kiosk_pairing_codes_kiosk ON kiosk_pairing_codes (kiosk_id);

-- Failed pairing attempts, counted per address and for all addresses together; kept in the
-- database so that a restart does not reset the count.
CREATE TABLE kiosk_pairing_failures (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX kiosk_pairing_failures_at ON kiosk_pairing_failures (at);
