-- Web push: the server's VAPID keys, each device's subscription, each person's reminder
-- choices, and the claims that make every reminder go out once. Portable SQL.

-- One row: generated on first start, never configured, never in the repository or a log.
CREATE TABLE push_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    private_pem TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A browser's push subscription, tied to the session (the device) that registered it: when
-- the session ends (sign-out, sign-out everywhere, a new sign-in on the device) the database
-- removes the subscription with it.
CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    session_hash TEXT NOT NULL REFERENCES sessions (token_hash) ON DELETE CASCADE,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_person ON push_subscriptions (person_id);
CREATE INDEX push_subscriptions_session ON push_subscriptions (session_hash);

-- A person's choices; no row means the defaults (16:30, Monday to Friday, no team alerts).
-- days: bit 0 is Monday ... bit 6 is Sunday (31 = Monday to Friday).
CREATE TABLE reminder_settings (
    person_id INTEGER PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    minute_of_day INTEGER NOT NULL DEFAULT 990 CHECK (minute_of_day BETWEEN 0 AND 1439),
    days INTEGER NOT NULL DEFAULT 31 CHECK (days BETWEEN 0 AND 127),
    team_alerts INTEGER NOT NULL DEFAULT 0 CHECK (team_alerts IN (0, 1)),
    updated_at INTEGER NOT NULL
);

-- The claim: one row per person and occasion (a day's check-in reminder, a month's eNPS
-- prompt, one early-warning episode of a team). Whoever inserts it sends it; the unique key
-- makes a second scheduler, or the same one after a restart, insert nothing.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('checkin', 'enps', 'alert')),
    occasion TEXT NOT NULL,
    text_key TEXT NOT NULL,
    team_id INTEGER REFERENCES teams (id) ON DELETE CASCADE,
    claim TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (person_id, kind, occasion)
);
CREATE INDEX notifications_claim ON notifications (claim);
CREATE INDEX notifications_created ON notifications (created_at);

-- One delivery of a notification to one subscription. state: pending (lease_until says whether a
-- sender holds it), sent, gone (404/410), failed (gave up or refused), expired (too late).
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    subscription_id INTEGER REFERENCES push_subscriptions (id) ON DELETE SET NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'gone', 'failed', 'expired')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    created_at INTEGER NOT NULL,
    done_at INTEGER
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_subscription ON deliveries (subscription_id);
CREATE INDEX deliveries_created ON deliveries (created_at);
