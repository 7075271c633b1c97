-- Spiegel's first schema. Times are whole seconds since the Unix epoch, UTC.
-- Portable SQL: it runs on SQLite today and is meant to run on PostgreSQL later.

CREATE TABLE organisation (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    default_language TEXT NOT NULL DEFAULT 'nl' CHECK (default_language IN ('nl', 'en'))
);
INSERT INTO organisation (id, name, default_language) VALUES (1, 'Spiegel', 'nl');

CREATE TABLE instance_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES teams (id),
    created_at INTEGER NOT NULL
);

CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('staff', 'manager', 'admin')),
    team_id INTEGER REFERENCES teams (id),
    language TEXT CHECK (language IN ('nl', 'en')),
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE team_managers (
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (person_id, team_id)
);

CREATE TABLE invites (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    user_agent TEXT
);
CREATE INDEX sessions_person ON sessions (person_id);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    team_id INTEGER REFERENCES teams (id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE questions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('checkin', 'contact_self', 'enps', 'mirror_staff',
                                       'customer_csat', 'customer_nps', 'customer_mirror')),
    text_nl TEXT NOT NULL,
    text_en TEXT NOT NULL,
    scale_min INTEGER NOT NULL,
    scale_max INTEGER NOT NULL,
    aspect TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    CHECK ((scale_min = 1 AND scale_max BETWEEN 2 AND 5) OR (scale_min = 0 AND scale_max = 10))
);

-- The defaults of the product brief: two faces for the staff check-in and self-rating,
-- four for the customer kiosk, 0..10 for NPS and eNPS. Mirror questions wait for a round.
INSERT INTO questions (id, kind, text_nl, text_en, scale_min, scale_max, aspect, active, created_at)
VALUES
    (1, 'checkin', 'Prettige dag gehad?', 'Did you have a good day?', 1, 2, NULL, 1, 0),
    (2, 'contact_self', 'Was deze klant tevreden?', 'Was this customer satisfied?', 1, 2, NULL, 1, 0),
    (3, 'enps', 'Hoe waarschijnlijk is het dat je deze organisatie als werkgever aanbeveelt aan een vriend?',
        'How likely are you to recommend this organisation as an employer to a friend?', 0, 10, NULL, 1, 0),
    (4, 'customer_csat', 'Hoe tevreden bent u over onze service?',
        'How satisfied are you with our service?', 1, 4, NULL, 1, 0),
    (5, 'customer_nps', 'Hoe waarschijnlijk is het dat u ons aanbeveelt aan een vriend of collega?',
        'How likely are you to recommend us to a friend or colleague?', 0, 10, NULL, 1, 0),
    (6, 'mirror_staff', 'Hoe denk je dat klanten onze snelheid beoordelen?',
        'How do you think customers rate our speed?', 1, 5, 'speed', 0, 0),
    (7, 'mirror_staff', 'Hoe denk je dat klanten onze vriendelijkheid beoordelen?',
        'How do you think customers rate our friendliness?', 1, 5, 'friendliness', 0, 0),
    (8, 'mirror_staff', 'Hoe denk je dat klanten onze deskundigheid beoordelen?',
        'How do you think customers rate our expertise?', 1, 5, 'expertise', 0, 0),
    (9, 'customer_mirror', 'Hoe beoordeelt u onze snelheid?',
        'How do you rate our speed?', 1, 5, 'speed', 0, 0),
    (10, 'customer_mirror', 'Hoe beoordeelt u onze vriendelijkheid?',
        'How do you rate our friendliness?', 1, 5, 'friendliness', 0, 0),
    (11, 'customer_mirror', 'Hoe beoordeelt u onze deskundigheid?',
        'How do you rate our expertise?', 1, 5, 'expertise', 0, 0);

-- Every answer from every source. The id is the client's UUID: sending it again stores
-- nothing new. The fingerprint is a hash of the body, so that a reused id with another
-- body is refused as a conflict rather than taken as a duplicate.
CREATE TABLE answers (
    id TEXT PRIMARY KEY,
    question_id INTEGER NOT NULL REFERENCES questions (id),
    value INTEGER NOT NULL,
    answered_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('app', 'kiosk', 'link', 'api', 'import', 'demo')),
    person_id INTEGER REFERENCES people (id),
    team_id INTEGER REFERENCES teams (id),
    api_key_id INTEGER REFERENCES api_keys (id),
    contact_ref TEXT,
    comment TEXT,
    fingerprint TEXT NOT NULL
);
CREATE INDEX answers_team_time ON answers (team_id, answered_at);
CREATE INDEX answers_person_time ON answers (person_id, answered_at);
-- Only answers with a contact reference are paired, and most answers have none.
CREATE INDEX answers_contact ON answers (contact_ref) WHERE contact_ref IS NOT NULL;
