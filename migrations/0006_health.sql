-- Health checks of an app's URLs (POST /apps/:app_id/health-urls, GET /health/:app_id). The
-- app's HealthChecker Durable Object checks every registered URL on its alarm and stores each
-- result; it keeps the newest 1,000 per URL (src/health.rs).
CREATE TABLE IF NOT EXISTS health_urls (
    app_id   TEXT NOT NULL,
    url      TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, url)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS health_checks (
    id         INTEGER PRIMARY KEY,
    app_id     TEXT NOT NULL,
    url        TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    ok         INTEGER NOT NULL,   -- 1: answered 2xx or 3xx
    status     INTEGER,            -- NULL: no answer in time
    latency_ms INTEGER NOT NULL,
    error      TEXT                -- why there is no status
);

CREATE INDEX IF NOT EXISTS idx_health_checks_url_time ON health_checks (app_id, url, checked_at);
