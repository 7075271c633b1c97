-- Customer channels: links (and their QR codes) that customers answer on their own phone,
-- API keys bound to a set of teams with their last use, and imports of customer scores.
-- Portable SQL.

-- A link for one team and a question set. The token is kept as it is, not hashed: it is
-- printed on counters as a QR code and must be printable again; it lets its holder do no
-- more than answer the link's questions for its team.
CREATE TABLE customer_links (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    team_id INTEGER NOT NULL REFERENCES teams (id),
    -- The question ids, space-separated, in the order the page asks them: the smiley first.
    questions TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

-- One answer per contact reference and question through a link: a second tap for the same
-- ticket (a forwarded mail, a reload) is refused, and the first answer stands. The answer
-- route checks first and says so; this index settles two requests that race.
CREATE UNIQUE INDEX answers_link_contact ON answers (link_id, question_id, contact_ref)
    WHERE link_id IS NOT NULL AND contact_ref IS NOT NULL;

-- The teams an API key may file answers under and read reports of; a key without rows here
-- may name any team. Keys made before this migration keep their one team.
CREATE TABLE api_key_teams (
    key_id INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    team_id INTEGER NOT NULL REFERENCES teams (id),
    PRIMARY KEY (key_id, team_id)
);
INSERT INTO api_key_teams (key_id, team_id)
SELECT id, team_id FROM api_keys WHERE team_id IS NOT NULL;

-- When a key was last used, to the minute: written at most once a minute per key.
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
