-- Directory of LogBatcher shards, so `GET /admin/status` can ask each one for its state.
-- A shard adds itself (in the background) when it first buffers an entry.
CREATE TABLE IF NOT EXISTS shards (
    shard      TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_shards_first_seen ON shards (first_seen);
