-- The read side (GET /logs): indexes for per-app queries, newest first with a keyset on
-- (timestamp, id), and full-text search on messages. The logger generates the same objects for a
-- firehose table of another name (src/schema.rs); a unit test holds the two together.

-- Every query names one app: (app_id, timestamp, id) serves the timeline and its pages, and
-- (app_id, level, timestamp, id) a level filter. They replace (app_id, timestamp) and
-- (level, timestamp), which served no per-app query, so a row still updates the same number of
-- indexes.
CREATE INDEX IF NOT EXISTS idx_logs_app_time_id ON logs (app_id, timestamp, id);
CREATE INDEX IF NOT EXISTS idx_logs_app_level_time_id ON logs (app_id, level, timestamp, id);
DROP INDEX IF EXISTS idx_logs_app_time;
DROP INDEX IF EXISTS idx_logs_level_time;

-- FTS5 over `message` as an external-content table (the text stays in `logs`), kept in step by
-- triggers on every insert (flushes) and delete (retention, prunes).
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(message, content=logs, columnsize=0, content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS logs_fts_ai AFTER INSERT ON logs BEGIN INSERT INTO logs_fts (rowid, message) VALUES (new.rowid, new.message); END;
CREATE TRIGGER IF NOT EXISTS logs_fts_ad AFTER DELETE ON logs BEGIN INSERT INTO logs_fts (logs_fts, rowid, message) VALUES ('delete', old.rowid, old.message); END;
-- Rows stored before this migration.
INSERT INTO logs_fts (logs_fts) VALUES ('rebuild');
