-- Administration: the organisation's own settings, the first-run setup link, archived teams,
-- deactivated people, mirror rounds, the audit log, and a counter the reports room reads to
-- know that answers were deleted or comments erased. Portable SQL.

-- What the setup page and the admin screens set. NULL means "not set here": the SPIEGEL_*
-- variable or its default applies (an operator's variable always wins).
ALTER TABLE organisation ADD COLUMN timezone TEXT;
ALTER TABLE organisation ADD COLUMN anonymity_k INTEGER CHECK (anonymity_k IS NULL OR anonymity_k >= 3);
ALTER TABLE organisation ADD COLUMN languages TEXT NOT NULL DEFAULT 'nl en';
-- Days after which an answer's comment is erased; NULL keeps comments.
ALTER TABLE organisation ADD COLUMN comment_retention_days INTEGER
    CHECK (comment_retention_days IS NULL OR comment_retention_days >= 1);
-- Months between eNPS questions: 1 monthly, 3 quarterly; 0 asks none.
ALTER TABLE organisation ADD COLUMN enps_months INTEGER NOT NULL DEFAULT 1
    CHECK (enps_months IN (0, 1, 2, 3, 6, 12));
ALTER TABLE organisation ADD COLUMN set_up_at INTEGER;

-- One-time links that open the setup page while the database has no administrator.
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

-- An archived team takes no new members and is left out of pickers; its history stays.
ALTER TABLE teams ADD COLUMN archived_at INTEGER;

-- people.active exists since 0001; when a person was deactivated (NULL: active).
ALTER TABLE people ADD COLUMN deactivated_at INTEGER;

-- A mirror round: the aspects asked of staff and customers between opening and closing.
CREATE TABLE mirror_rounds (
    id INTEGER PRIMARY KEY,
    aspects TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER
);

-- Who did what, when, as administrator. The actor's name is kept as text, so the line
-- survives the actor's own deletion.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id INTEGER REFERENCES people (id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Raised whenever answers are deleted or comments erased: the reports room's cache of the
-- rollups keys on the newest answer, which a deletion need not change.
ALTER TABLE report_zone ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
