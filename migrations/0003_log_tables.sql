-- Log tables (the firehose and one per route) as the logger last migrated and pruned them.
-- `schema_hash` is compared with the configured schema's hash: when they differ the LogBatcher
-- creates the table or adds the new columns (never drops any). The cron's retention run records
-- when it pruned, the cut-off it used and how many rows went.
CREATE TABLE IF NOT EXISTS log_tables (
    table_name         TEXT PRIMARY KEY,
    route              TEXT,
    schema_hash        TEXT,
    columns            TEXT,     -- JSON array of the configured column names
    migrated_at        INTEGER,
    last_pruned_at     INTEGER,  -- start of the last retention run that finished this table
    last_prune_cutoff  INTEGER,  -- rows with timestamp below this were deleted
    last_prune_deleted INTEGER,  -- rows the last run deleted (all of its chunks)
    pruned_total       INTEGER NOT NULL DEFAULT 0,
    prune_pending      INTEGER NOT NULL DEFAULT 0  -- 1: a run stopped at its statement budget
);

-- Retention deletes by time alone.
CREATE INDEX IF NOT EXISTS idx_logs_time ON logs (timestamp);
