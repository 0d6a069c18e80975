-- The firehose table: every accepted log entry, one row each.
-- `id` is a UUIDv7 and the primary key: flushes insert with ON CONFLICT(id) DO NOTHING, so a
-- retried flush never duplicates a row. Times are milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS logs (
    id              TEXT PRIMARY KEY,
    timestamp       INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    app_id          TEXT NOT NULL,
    level           TEXT NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARN', 'ERROR')),
    message         TEXT NOT NULL,
    request_id      TEXT,
    source          TEXT NOT NULL CHECK (source IN ('binding', 'rest')),
    shard           TEXT NOT NULL,
    method          TEXT,
    url             TEXT,
    host            TEXT,
    path            TEXT,
    query           TEXT,
    user_agent      TEXT,
    referer         TEXT,
    content_type    TEXT,
    ray_id          TEXT,
    colo            TEXT,
    country         TEXT,
    city            TEXT,
    region          TEXT,
    continent       TEXT,
    asn             INTEGER,
    as_organization TEXT,
    timezone        TEXT,
    http_protocol   TEXT,
    tls_version     TEXT,
    tls_cipher      TEXT,
    client_ip       TEXT,
    headers         TEXT,   -- JSON object of the request headers kept
    data            TEXT    -- JSON object: X-Log-Data or the REST entry's context
);

CREATE INDEX IF NOT EXISTS idx_logs_app_time ON logs (app_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_logs_level_time ON logs (level, timestamp);
CREATE INDEX IF NOT EXISTS idx_logs_request_id ON logs (request_id) WHERE request_id IS NOT NULL;
