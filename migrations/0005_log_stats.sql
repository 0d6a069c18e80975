-- Daily counts per app and level (GET /stats/:app_id), so stats cost O(days), never a scan of
-- the logs. `day` is the UTC day of the entry's own time (timestamp / 86400000). Triggers move
-- the counts inside the statement that stores or deletes a row: a flush's insert (rows it skips
-- as already stored fire nothing), retention, prunes; so the counts equal the rows stored, at no
-- extra statement. The logger generates the same triggers for a firehose of another name
-- (src/schema.rs).
CREATE TABLE IF NOT EXISTS log_stats (
    app_id TEXT NOT NULL,
    day    INTEGER NOT NULL,
    level  TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (app_id, day, level)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS logs_stats_ai AFTER INSERT ON logs BEGIN INSERT INTO log_stats (app_id, day, level, count) VALUES (new.app_id, new.timestamp / 86400000, new.level, 1) ON CONFLICT (app_id, day, level) DO UPDATE SET count = count + 1; END;
CREATE TRIGGER IF NOT EXISTS logs_stats_ad AFTER DELETE ON logs BEGIN UPDATE log_stats SET count = count - 1 WHERE app_id = old.app_id AND day = old.timestamp / 86400000 AND level = old.level; END;

-- Rows stored before this migration.
INSERT INTO log_stats (app_id, day, level, count)
SELECT app_id, timestamp / 86400000, level, count(*) FROM logs GROUP BY 1, 2, 3;
