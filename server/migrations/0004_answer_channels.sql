-- The channel an answer came through, beside the person or API key that already had columns:
-- a paired kiosk (table kiosks, migration 0005) or a customer link (customer_links, 0007).
-- SQLite cannot add a foreign key to an existing table; the rooms that own those tables
-- write these ids only from the caller the server resolved, never from a request body.
ALTER TABLE answers ADD COLUMN kiosk_id INTEGER;
ALTER TABLE answers ADD COLUMN link_id INTEGER;
-- A customer's chosen follow-up reason ("what could be better?"), a short key or text.
ALTER TABLE answers ADD COLUMN reason TEXT;
CREATE INDEX answers_kiosk_time ON answers (kiosk_id, answered_at) WHERE kiosk_id IS NOT NULL;
CREATE INDEX answers_link_time ON answers (link_id, answered_at) WHERE link_id IS NOT NULL;
