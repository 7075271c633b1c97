-- The reports room: rollups of the answers that count, kept in step with every insert by
-- triggers (in the same transaction, so a figure is current once its answer has committed),
-- follow-up actions, and scopes for API keys.
--
-- Days are whole local days of the organisation's zone, numbered from 1970-01-01 (day 0 was a
-- Thursday); a week is the day number of its ISO Monday: day - (day + 3) % 7. The zone's UTC
-- offsets live in report_offsets; the reports room fills them from SPIEGEL_TIMEZONE and
-- rebuilds the rollups when the zone they were built in (report_zone) differs.
-- Triggers are SQLite's syntax; PostgreSQL needs the same statements in trigger functions.

CREATE TABLE report_zone (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL
);
INSERT INTO report_zone (id, name) VALUES (1, 'UTC');

CREATE TABLE report_offsets (
    since INTEGER PRIMARY KEY,
    seconds INTEGER NOT NULL
);
INSERT INTO report_offsets (since, seconds) VALUES (-1000000000000, 0);

-- What a value means on its question's scale: its score (0..100) and the flags the figures
-- count (product.md: upper half, top faces, promoter 9-10, detractor 0-6). A table rather
-- than a view because every answer looks it up; triggers keep it in step with the questions.
CREATE TABLE report_scores (
    question_id INTEGER NOT NULL,
    value INTEGER NOT NULL,
    kind TEXT NOT NULL,
    score REAL NOT NULL,
    positive INTEGER NOT NULL,
    top INTEGER NOT NULL,
    promoter INTEGER NOT NULL,
    detractor INTEGER NOT NULL,
    PRIMARY KEY (question_id, value)
) WITHOUT ROWID;

CREATE TABLE report_values (value INTEGER PRIMARY KEY);
INSERT INTO report_values (value) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10);

CREATE VIEW report_scales AS
SELECT q.id AS question_id, v.value, q.kind,
       (v.value - q.scale_min) * 100.0 / (q.scale_max - q.scale_min) AS score,
       CASE WHEN 2 * (v.value - q.scale_min) > q.scale_max - q.scale_min THEN 1 ELSE 0 END
           AS positive,
       CASE WHEN q.scale_max - q.scale_min >= 3 AND v.value >= q.scale_max - 1 THEN 1
            WHEN v.value = q.scale_max THEN 1 ELSE 0 END AS top,
       CASE WHEN q.scale_min = 0 AND q.scale_max = 10 AND v.value >= 9 THEN 1 ELSE 0 END
           AS promoter,
       CASE WHEN q.scale_min = 0 AND q.scale_max = 10 AND v.value <= 6 THEN 1 ELSE 0 END
           AS detractor
FROM questions q JOIN report_values v ON v.value BETWEEN q.scale_min AND q.scale_max;

INSERT INTO report_scores SELECT * FROM report_scales;

CREATE TRIGGER report_question_added AFTER INSERT ON questions
FOR EACH ROW
BEGIN
    INSERT INTO report_scores SELECT * FROM report_scales WHERE question_id = NEW.id;
END;

CREATE TRIGGER report_question_changed AFTER UPDATE OF kind, scale_min, scale_max ON questions
FOR EACH ROW
BEGIN
    DELETE FROM report_scores WHERE question_id = OLD.id;
    INSERT INTO report_scores SELECT * FROM report_scales WHERE question_id = NEW.id;
END;

-- Every answer with its local day, for rebuilding the rollups (the triggers compute the same
-- for one answer at a time).
CREATE VIEW report_facts AS
SELECT a.id, a.person_id, a.team_id, a.question_id, a.answered_at, a.contact_ref, s.kind,
       a.day, a.day - (a.day + 3) % 7 AS week,
       CASE WHEN s.kind = 'contact_self' THEN COALESCE(a.contact_ref, a.id) ELSE '' END AS unit,
       s.score, s.positive, s.top, s.promoter, s.detractor
FROM (SELECT b.*, (b.answered_at + (SELECT o.seconds FROM report_offsets o
                                    WHERE o.since <= b.answered_at
                                    ORDER BY o.since DESC LIMIT 1)) / 86400 AS day
      FROM answers b) a
JOIN report_scores s ON s.question_id = a.question_id AND s.value = a.value;

-- Per team (its own answers, not its subtree), week and kind: the sums every figure is made
-- of, and the distinct respondents: persons (each in one team per week and kind: the lowest
-- team id they answered for) plus anonymous answers.
CREATE TABLE report_weeks (
    team_id INTEGER NOT NULL,
    week INTEGER NOT NULL,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    score REAL NOT NULL,
    positive INTEGER NOT NULL,
    top INTEGER NOT NULL,
    promoters INTEGER NOT NULL,
    detractors INTEGER NOT NULL,
    anonymous INTEGER NOT NULL,
    persons INTEGER NOT NULL,
    PRIMARY KEY (week, team_id, kind)
) WITHOUT ROWID;

-- Check-ins per team, day and question, for the daily mood chart. n per question is a lower
-- bound of the day's distinct respondents (exact with one check-in question).
CREATE TABLE report_days (
    team_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    question_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (day, team_id, question_id)
) WITHOUT ROWID;

-- Who answered a kind in a week, for a team: distinct respondents and participation.
CREATE TABLE report_people (
    person_id INTEGER NOT NULL,
    week INTEGER NOT NULL,
    kind TEXT NOT NULL,
    team_id INTEGER NOT NULL,
    PRIMARY KEY (week, person_id, kind, team_id)
) WITHOUT ROWID;

-- Comments are shown per team and period, newest first: only answers that carry one.
CREATE INDEX answers_comments ON answers (team_id, answered_at) WHERE comment IS NOT NULL;

-- The triggers compute one answer's day as report_facts does: (at + offset) / 86400.
CREATE TRIGGER report_anonymous_answer AFTER INSERT ON answers
FOR EACH ROW WHEN NEW.team_id IS NOT NULL AND NEW.person_id IS NULL
BEGIN
    INSERT INTO report_weeks (team_id, week, kind, n, score, positive, top, promoters,
                              detractors, anonymous, persons)
    SELECT NEW.team_id, d.day - (d.day + 3) % 7, s.kind, 1, s.score, s.positive, s.top,
           s.promoter, s.detractor, 1, 0
    FROM report_scores s,
         (SELECT (NEW.answered_at + (SELECT o.seconds FROM report_offsets o
                                     WHERE o.since <= NEW.answered_at
                                     ORDER BY o.since DESC LIMIT 1)) / 86400 AS day) d
    WHERE s.question_id = NEW.question_id AND s.value = NEW.value
    ON CONFLICT (week, team_id, kind) DO UPDATE SET
        n = n + 1, score = score + excluded.score, positive = positive + excluded.positive,
        top = top + excluded.top, promoters = promoters + excluded.promoters,
        detractors = detractors + excluded.detractors, anonymous = anonymous + 1;
    INSERT INTO report_days (team_id, day, question_id, n, score)
    SELECT NEW.team_id, (NEW.answered_at + (SELECT o.seconds FROM report_offsets o
                                            WHERE o.since <= NEW.answered_at
                                            ORDER BY o.since DESC LIMIT 1)) / 86400,
           NEW.question_id, 1, s.score
    FROM report_scores s
    WHERE s.question_id = NEW.question_id AND s.value = NEW.value AND s.kind = 'checkin'
    ON CONFLICT (day, team_id, question_id) DO UPDATE SET
        n = n + 1, score = score + excluded.score;
END;

-- The counting table: the answer of a person that counts, one per person, question, local day
-- and unit (the contact of a contact self-rating, which counts per contact; a self-rating
-- without a contact is a unit of its own). A later answer replaces an earlier one (ties on
-- answered_at go to the larger answer id) and the triggers below move the rollups along.
-- Anonymous answers (kiosk, link, API) each count, so they go to the rollups directly.
CREATE TABLE report_units (
    day INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    question_id INTEGER NOT NULL,
    unit TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    answered_at INTEGER NOT NULL,
    team_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    week INTEGER NOT NULL,
    score REAL NOT NULL,
    positive INTEGER NOT NULL,
    top INTEGER NOT NULL,
    promoter INTEGER NOT NULL,
    detractor INTEGER NOT NULL,
    PRIMARY KEY (day, person_id, question_id, unit)
) WITHOUT ROWID;

CREATE TRIGGER report_person_answer AFTER INSERT ON answers
FOR EACH ROW WHEN NEW.team_id IS NOT NULL AND NEW.person_id IS NOT NULL
BEGIN
    INSERT INTO report_units (day, person_id, question_id, unit, answer_id, answered_at, team_id,
                              kind, week, score, positive, top, promoter, detractor)
    SELECT d.day, NEW.person_id, NEW.question_id,
           CASE WHEN s.kind = 'contact_self' THEN COALESCE(NEW.contact_ref, NEW.id) ELSE '' END,
           NEW.id, NEW.answered_at, NEW.team_id, s.kind, d.day - (d.day + 3) % 7, s.score,
           s.positive, s.top, s.promoter, s.detractor
    FROM report_scores s,
         (SELECT (NEW.answered_at + (SELECT o.seconds FROM report_offsets o
                                     WHERE o.since <= NEW.answered_at
                                     ORDER BY o.since DESC LIMIT 1)) / 86400 AS day) d
    WHERE s.question_id = NEW.question_id AND s.value = NEW.value
    ON CONFLICT (day, person_id, question_id, unit) DO UPDATE SET
        answer_id = excluded.answer_id, answered_at = excluded.answered_at,
        team_id = excluded.team_id, score = excluded.score, positive = excluded.positive,
        top = excluded.top, promoter = excluded.promoter, detractor = excluded.detractor
    WHERE excluded.answered_at > report_units.answered_at
       OR (excluded.answered_at = report_units.answered_at
           AND excluded.answer_id > report_units.answer_id);
END;

CREATE TRIGGER report_unit_added AFTER INSERT ON report_units
FOR EACH ROW
BEGIN
    INSERT INTO report_weeks (team_id, week, kind, n, score, positive, top, promoters,
                              detractors, anonymous, persons)
    VALUES (NEW.team_id, NEW.week, NEW.kind, 1, NEW.score, NEW.positive, NEW.top, NEW.promoter,
            NEW.detractor, 0, 0)
    ON CONFLICT (week, team_id, kind) DO UPDATE SET
        n = n + 1, score = score + excluded.score, positive = positive + excluded.positive,
        top = top + excluded.top, promoters = promoters + excluded.promoters,
        detractors = detractors + excluded.detractors;
    INSERT INTO report_days (team_id, day, question_id, n, score)
    SELECT NEW.team_id, NEW.day, NEW.question_id, 1, NEW.score WHERE NEW.kind = 'checkin'
    ON CONFLICT (day, team_id, question_id) DO UPDATE SET
        n = n + 1, score = score + excluded.score;
    INSERT INTO report_people (week, person_id, kind, team_id)
    VALUES (NEW.week, NEW.person_id, NEW.kind, NEW.team_id)
    ON CONFLICT (week, person_id, kind, team_id) DO NOTHING;
END;

-- The earlier answer of the unit stops counting, the later one counts; if it was the person's
-- last counted answer of the kind for the earlier team that week, they leave that team's count.
CREATE TRIGGER report_unit_replaced AFTER UPDATE ON report_units
FOR EACH ROW
BEGIN
    UPDATE report_weeks SET
        n = n - 1, score = score - OLD.score, positive = positive - OLD.positive,
        top = top - OLD.top, promoters = promoters - OLD.promoter,
        detractors = detractors - OLD.detractor
    WHERE week = OLD.week AND team_id = OLD.team_id AND kind = OLD.kind;
    INSERT INTO report_weeks (team_id, week, kind, n, score, positive, top, promoters,
                              detractors, anonymous, persons)
    VALUES (NEW.team_id, NEW.week, NEW.kind, 1, NEW.score, NEW.positive, NEW.top, NEW.promoter,
            NEW.detractor, 0, 0)
    ON CONFLICT (week, team_id, kind) DO UPDATE SET
        n = n + 1, score = score + excluded.score, positive = positive + excluded.positive,
        top = top + excluded.top, promoters = promoters + excluded.promoters,
        detractors = detractors + excluded.detractors;
    UPDATE report_days SET n = n - 1, score = score - OLD.score
    WHERE OLD.kind = 'checkin' AND day = OLD.day AND team_id = OLD.team_id
      AND question_id = OLD.question_id;
    INSERT INTO report_days (team_id, day, question_id, n, score)
    SELECT NEW.team_id, NEW.day, NEW.question_id, 1, NEW.score WHERE NEW.kind = 'checkin'
    ON CONFLICT (day, team_id, question_id) DO UPDATE SET
        n = n + 1, score = score + excluded.score;
    INSERT INTO report_people (week, person_id, kind, team_id)
    VALUES (NEW.week, NEW.person_id, NEW.kind, NEW.team_id)
    ON CONFLICT (week, person_id, kind, team_id) DO NOTHING;
    DELETE FROM report_people
    WHERE OLD.team_id <> NEW.team_id AND week = OLD.week AND person_id = OLD.person_id
      AND kind = OLD.kind AND team_id = OLD.team_id
      AND NOT EXISTS (SELECT 1 FROM report_units u
                      WHERE u.day BETWEEN OLD.week AND OLD.week + 6
                        AND u.person_id = OLD.person_id AND u.kind = OLD.kind
                        AND u.team_id = OLD.team_id);
END;

-- A person counts once per week and kind: in the lowest team id they answered for. Counting
-- them in one team only keeps the sums over a team tree right (analytics.suppress needs that)
-- and errs on the safe side for the other team, whose cell holds answers of one more person.
CREATE TRIGGER report_person_counted AFTER INSERT ON report_people
FOR EACH ROW
BEGIN
    UPDATE report_weeks SET persons = persons - 1
    WHERE week = NEW.week AND kind = NEW.kind
      AND team_id = (SELECT MIN(p.team_id) FROM report_people p
                     WHERE p.person_id = NEW.person_id AND p.week = NEW.week
                       AND p.kind = NEW.kind AND p.team_id > NEW.team_id)
      AND NOT EXISTS (SELECT 1 FROM report_people p
                      WHERE p.person_id = NEW.person_id AND p.week = NEW.week
                        AND p.kind = NEW.kind AND p.team_id < NEW.team_id);
    UPDATE report_weeks SET persons = persons + 1
    WHERE week = NEW.week AND team_id = NEW.team_id AND kind = NEW.kind
      AND NOT EXISTS (SELECT 1 FROM report_people p
                      WHERE p.person_id = NEW.person_id AND p.week = NEW.week
                        AND p.kind = NEW.kind AND p.team_id < NEW.team_id);
END;

CREATE TRIGGER report_person_uncounted AFTER DELETE ON report_people
FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM report_people p
                              WHERE p.week = OLD.week AND p.person_id = OLD.person_id
                                AND p.kind = OLD.kind AND p.team_id < OLD.team_id)
BEGIN
    UPDATE report_weeks SET persons = persons - 1
    WHERE week = OLD.week AND team_id = OLD.team_id AND kind = OLD.kind;
    UPDATE report_weeks SET persons = persons + 1
    WHERE week = OLD.week AND kind = OLD.kind
      AND team_id = (SELECT MIN(p.team_id) FROM report_people p
                     WHERE p.week = OLD.week AND p.person_id = OLD.person_id
                       AND p.kind = OLD.kind);
END;

-- Follow-up actions a manager records on a team, shown as markers on its charts.
CREATE TABLE team_actions (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    what TEXT NOT NULL,
    on_day TEXT NOT NULL,
    who TEXT NOT NULL,
    person_id INTEGER REFERENCES people (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX team_actions_team ON team_actions (team_id, on_day);

-- What an API key may do; keys made before scopes existed keep posting answers.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'answers:write';
