//! The benchmark behind `scripts/bench`: the real worker under `wrangler dev` (workerd, local D1,
//! KV and Durable Objects, a fresh `--persist-to`), load from this process over loopback, every
//! acknowledged entry waited for in D1, and a table of figures (also written as JSON).
//!
//! Scenarios, side by side: REST batches at several sizes and concurrencies; forwarded requests
//! through the parent fixture over the service binding (one log per request); the same pipeline
//! with batching off (`MAX_BATCH_SIZE=1`) as the naive baseline; and a ceiling: the same rows
//! inserted natively into a SQLite file in one transaction with the logger's own statement.
//!
//! `cargo run --release --example bench -- [--quick] [--out FILE] [--compare OLD.json]`
//! (the worker must be built: `scripts/bench` does both).

#[path = "support/cold.rs"]
mod cold;
#[path = "../tests/e2e/harness.rs"]
mod harness;
#[path = "support/reads.rs"]
mod reads;
#[path = "support/rest_ab.rs"]
mod rest_ab;

use d1_logger::config::Config;
use d1_logger::model::entry::{LogEntry, RequestFields, Source};
use d1_logger::model::id::new_id;
use d1_logger::model::level::Level;
use d1_logger::store::insert::{
    chunk_ranges, json_array, plain_insert_sql, stats_keys, stats_sql, Extract, MAX_PARAM_BYTES,
};
use d1_logger::store::schema::{TableSchema, STATS_TABLE_DDL};
use harness::{unique, Logger, Options, ADMIN_KEY};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a scenario sends; it stops earlier when its entries are sent.
const SEND_LIMIT: Duration = Duration::from_secs(30);
/// Longest the benchmark waits for acknowledged entries to land after sending.
const LAND_LIMIT: Duration = Duration::from_secs(120);
/// How often D1 is polled for new rows (the resolution of flush lag).
const POLL: Duration = Duration::from_millis(25);

#[derive(Clone, Copy)]
enum Load {
    Rest {
        batch: usize,
        concurrency: usize,
    },
    /// Requests the parent fixture logs in its `waitUntil`: over `fetch` to the logger, or
    /// (`rpc`) with `forApp(key).logRequest(request)` on its RPC entrypoint.
    Forward {
        concurrency: usize,
        rpc: bool,
    },
    /// Requests to the parent fixture that log nothing: what the path costs without the logger.
    Bare {
        concurrency: usize,
    },
}

struct Scenario {
    name: &'static str,
    load: Load,
    entries: usize,
    /// A live tail of the app is open during the run, receiving every entry (and acknowledging).
    tail: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
struct Figures {
    scenario: String,
    pipeline: String,
    acked: u64,
    requests: u64,
    send_s: f64,
    entries_per_s: f64,
    latency_p50_ms: f64,
    latency_p95_ms: f64,
    latency_p99_ms: f64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    rows: u64,
    rows_per_acked: f64,
    landed_s: f64,
    /// Acknowledged entries per second from the first request until the last row was in D1.
    landed_per_s: f64,
    d1_statements: i64,
    statements_per_1000: f64,
    /// D1 rows written (as D1 counts and bills them: every index, search and stats row a write
    /// touches) per 1,000 acknowledged entries, and database growth per stored row.
    rows_written_per_1000: f64,
    bytes_per_entry: f64,
    /// D1 rows read by a page of the app's newest 100 entries, and by its stats for 7 days.
    page_rows_read: u64,
    stats_rows_read: u64,
    peak_rss_mb: f64,
    end_rss_mb: f64,
    /// With a live tail open: entries it received, and acknowledgement → arrival lag.
    tail_received: Option<u64>,
    tail_lag_p50_ms: Option<f64>,
    tail_lag_p99_ms: Option<f64>,
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens a live tail of the app and posts probe entries until one arrives (LogBatchers learn
/// within a second that the app has a tail). Returns the socket and how many probes were posted.
fn open_tail(logger: &Logger, key: &str) -> (Ws, u64) {
    let r = logger.call("POST", "/tail/token", &[("x-api-key", key)], None);
    let token = r.body["data"]["token"]
        .as_str()
        .expect("a tail token")
        .to_string();
    // Errors only: 1% of a tailed run's entries (a tail that wants everything at full ingest
    // rate measures the client, not the logger).
    let url = format!(
        "ws://127.0.0.1:{}/_logger/tail?token={token}&level=ERROR",
        logger.port
    );
    let (mut ws, _) = tungstenite::connect(url).expect("the tail connects");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let deadline = Instant::now() + LAND_LIMIT;
    let mut probes = 0;
    while Instant::now() < deadline {
        let r = logger.post_logs(key, &json!({ "level": "error", "message": "tail probe" }));
        assert_eq!(r.status, 200, "{r:?}");
        probes += 1;
        let wait = Instant::now() + Duration::from_millis(1_500);
        while Instant::now() < wait {
            if let Some(m) = tail_read(&mut ws) {
                if m["type"] == "log" {
                    return (ws, probes);
                }
            }
        }
    }
    panic!("the tail never received a probe");
}

/// The next message of the tail (acknowledged if it is a log), or `None` after the read timeout.
fn tail_read(ws: &mut Ws) -> Option<Value> {
    match ws.read() {
        Ok(tungstenite::Message::Text(t)) => {
            let m: Value = serde_json::from_str(&t).ok()?;
            if m["type"] == "log" {
                let ack = json!({ "type": "ack", "n": m["n"] }).to_string();
                let _ = ws.send(tungstenite::Message::text(ack));
            }
            Some(m)
        }
        _ => None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// D1 statements and D1 rows written (as D1 reports them) by every LogBatcher so far, and the
/// database's size in bytes (its file's pages).
fn statements(logger: &Logger) -> (i64, i64, i64) {
    let r = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
    let d = &r.body["data"];
    let size = logger.query(
        "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()",
        &[],
    )[0]["n"]
        .as_i64()
        .unwrap_or(0);
    (
        d["totals"]["d1_statements"]
            .as_i64()
            .unwrap_or_else(|| panic!("no status: {r:?}")),
        d["d1"]["flush_rows_written"].as_i64().unwrap_or(0),
        size,
    )
}

/// How the poller finds a run's new rows in D1 while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Landing {
    /// Through the search index, whose rowids follow the order rows are stored in (a range of
    /// them is cheap to read, where the table is ordered by time) and which keeps each row's time.
    Search,
    /// Through the table's own rowids: the layout before the clustered one (a baseline worker).
    Rowid,
    /// By counting the app's rows (`SEARCH_INDEX=none`); no lag is measured.
    Count,
}

impl Landing {
    /// What `logger`'s firehose offers: `indexed` is false under `SEARCH_INDEX=none`.
    fn of(logger: &Logger, indexed: bool) -> Landing {
        let ddl = logger.query(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'logs'",
            &[],
        );
        let clustered = ddl
            .first()
            .and_then(|r| r["sql"].as_str())
            .is_some_and(|sql| sql.contains("WITHOUT ROWID"));
        match (clustered, indexed) {
            (false, _) => Landing::Rowid,
            (true, true) => Landing::Search,
            (true, false) => Landing::Count,
        }
    }
}

/// Runs one scenario on `logger` with a fresh app, and returns its figures.
fn run(logger: &Logger, pipeline: &str, s: &Scenario, landing: Landing) -> Figures {
    let app = unique("bench");
    let key = logger.create_app(&app);
    let statements_before = statements(logger);
    let (batch, concurrency) = match s.load {
        Load::Rest { batch, concurrency } => (batch, concurrency),
        Load::Forward { concurrency, .. } | Load::Bare { concurrency } => (1, concurrency),
    };
    let requests = s.entries.div_ceil(batch);
    let (tail, probes) = match s.tail {
        true => {
            let (ws, probes) = open_tail(logger, &key);
            (Some(Mutex::new(ws)), probes)
        }
        false => (None, 0),
    };
    // Bodies are made before the clock starts, so the client spends little CPU while it runs.
    let bodies: Vec<Vec<u8>> = match s.load {
        Load::Rest { .. } => (0..requests)
            .map(|r| {
                let logs: Vec<Value> = (0..batch)
                    .map(|i| {
                        // One entry in a hundred is an error (what a tailed run's tail wants).
                        let level = if (r * batch + i) % 100 == 99 { "error" } else { "info" };
                        json!({"level": level, "message": format!("bench {r}-{i}"), "context": {"n": i}})
                    })
                    .collect();
                json!({ "logs": logs }).to_string().into_bytes()
            })
            .collect(),
        Load::Forward { .. } | Load::Bare { .. } => Vec::new(),
    };

    let next = AtomicUsize::new(0);
    let acked = AtomicU64::new(0);
    let latencies = Mutex::new(Vec::with_capacity(requests));
    let sending = AtomicBool::new(true);
    let expected = AtomicU64::new(u64::MAX);
    let start = Instant::now();
    let mut send_s = 0.0;
    let (lags, peak_rss, landed_s, tailed) = std::thread::scope(|scope| {
        // The tail reader: entries of this run as they arrive, and their lag.
        let reader = tail.as_ref().map(|ws| {
            let (sending, expected) = (&sending, &expected);
            scope.spawn(move || {
                let mut ws = ws.lock().unwrap();
                let mut lags = Vec::new();
                let mut deadline = None;
                loop {
                    if let Some(m) = tail_read(&mut ws) {
                        let entry = &m["entry"];
                        if entry["message"]
                            .as_str()
                            .is_some_and(|t| t.starts_with("bench "))
                        {
                            lags.push(
                                (now_ms() - entry["received_at"].as_i64().unwrap_or(0)) as f64,
                            );
                        }
                    }
                    // The run's errors: one entry in a hundred.
                    if lags.len() as u64 >= expected.load(Ordering::SeqCst) / 100 {
                        return lags;
                    }
                    if !sending.load(Ordering::SeqCst) {
                        let d = *deadline.get_or_insert(Instant::now() + Duration::from_secs(30));
                        if Instant::now() > d {
                            return lags;
                        }
                    }
                }
            })
        });
        // The poller: new rows of this app, their flush lag, and the runtime's memory.
        let poller = scope.spawn(|| {
            let mut lags = Vec::new();
            // Only this scenario's app writes meanwhile (`Landing` says how rows are found).
            let mut last_rowid = match landing {
                Landing::Search => logger
                    .query("SELECT coalesce(max(rowid), 0) AS r FROM logs_fts", &[])[0]["r"]
                    .as_i64()
                    .unwrap(),
                Landing::Rowid | Landing::Count => 0,
            };
            let mut counted = 0u64;
            let mut peak = 0u64;
            let mut deadline = None;
            loop {
                peak = peak.max(logger.rss_bytes());
                let seen = now_ms();
                let rows = match landing {
                    Landing::Search => logger.query(
                        "SELECT rowid AS r, ts AS t FROM logs_fts WHERE rowid > ?1 ORDER BY rowid",
                        &[&last_rowid],
                    ),
                    Landing::Rowid => logger.query(
                        "SELECT rowid AS r, timestamp AS t FROM logs \
                         WHERE app_id = ?1 AND rowid > ?2 ORDER BY rowid",
                        &[&app, &last_rowid],
                    ),
                    Landing::Count => {
                        counted = logger
                            .query("SELECT count(*) AS n FROM logs WHERE app_id = ?1", &[&app])[0]
                            ["n"]
                            .as_u64()
                            .unwrap();
                        Vec::new()
                    }
                };
                for row in &rows {
                    last_rowid = last_rowid.max(row["r"].as_i64().unwrap());
                    lags.push((seen - row["t"].as_i64().unwrap()) as f64);
                }
                let landed = match landing {
                    Landing::Count => counted,
                    Landing::Search | Landing::Rowid => lags.len() as u64,
                };
                // Probe entries of a tailed run are this app's rows too.
                let want = expected.load(Ordering::SeqCst).saturating_add(probes);
                if landed >= want || (want == probes && !sending.load(Ordering::SeqCst)) {
                    return (lags, peak, start.elapsed().as_secs_f64());
                }
                if !sending.load(Ordering::SeqCst) {
                    let d = *deadline.get_or_insert(Instant::now() + LAND_LIMIT);
                    if Instant::now() > d {
                        return (lags, peak, f64::NAN);
                    }
                }
                std::thread::sleep(POLL);
            }
        });
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (next, acked, latencies, bodies, key) =
                    (&next, &acked, &latencies, &bodies, &key);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= requests || start.elapsed() > SEND_LIMIT {
                            break;
                        }
                        let t = Instant::now();
                        let ok = match s.load {
                            Load::Rest { .. } => {
                                let r = logger.call(
                                    "POST",
                                    "/logs",
                                    &[("x-api-key", key), ("content-type", "application/json")],
                                    Some(&bodies[i]),
                                );
                                // 202 from a baseline before ingest answered 200.
                                let ok = (200..300).contains(&r.status);
                                if !ok {
                                    eprintln!("bench: request {i}: {} {}", r.status, r.text);
                                }
                                ok.then(|| r.body["data"]["accepted"].as_u64().unwrap_or(0))
                            }
                            Load::Forward { rpc, .. } => {
                                let msg = format!("bench fwd {i}");
                                let mut headers: Vec<(&str, &str)> = vec![
                                    ("x-fixture-log-key", key.as_str()),
                                    ("x-fixture-log-message", msg.as_str()),
                                ];
                                if rpc {
                                    headers.push(("x-fixture-rpc", "1"));
                                }
                                let r = logger.parent(
                                    "GET",
                                    &format!("/bench/page/{i}?q=1"),
                                    &headers,
                                    None,
                                );
                                (r.status == 200).then_some(1)
                            }
                            Load::Bare { .. } => {
                                let r = logger.parent(
                                    "GET",
                                    &format!("/bench/page/{i}?q=1"),
                                    &[],
                                    None,
                                );
                                (r.status == 200).then_some(0)
                            }
                        };
                        mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        match ok {
                            Some(n) => {
                                acked.fetch_add(n, Ordering::SeqCst);
                            }
                            None => eprintln!("bench: request {i} refused"),
                        }
                    }
                    latencies.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        send_s = start.elapsed().as_secs_f64();
        eprintln!(
            "bench: {pipeline} {}: {} requests sent in {send_s:.1} s; waiting for the rows",
            s.name,
            next.load(Ordering::SeqCst).min(requests)
        );
        expected.store(acked.load(Ordering::SeqCst), Ordering::SeqCst);
        sending.store(false, Ordering::SeqCst);
        let (lags, peak, landed) = poller.join().unwrap();
        (lags, peak, landed, reader.map(|r| r.join().unwrap()))
    });

    let acked = acked.into_inner();
    let rows = (logger.query("SELECT count(*) AS n FROM logs WHERE app_id = ?1", &[&app])[0]["n"]
        .as_i64()
        .unwrap() as u64)
        .saturating_sub(probes);
    let tail_lags = tailed.map(|mut l| {
        l.sort_by(f64::total_cmp);
        l
    });
    // What reading this run's app costs in D1 rows read: its newest page of 100, a week of stats.
    let read_cost = |path: &str| {
        let r = logger.call("GET", path, &[("x-api-key", key.as_str())], None);
        r.body["data"]["d1"]["rows_read"].as_u64().unwrap_or(0)
    };
    let page_rows_read = read_cost("/logs?limit=100");
    let stats_rows_read = read_cost(&format!("/stats/{app}?days=7"));
    let (after, written_after, size_after) = statements(logger);
    let d1_statements = after - statements_before.0;
    let rows_written = written_after - statements_before.1;
    let grown = size_after - statements_before.2;
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort_by(f64::total_cmp);
    let mut lags = lags;
    lags.sort_by(f64::total_cmp);
    let sent = latencies.len() as u64;
    Figures {
        scenario: s.name.to_string(),
        pipeline: pipeline.to_string(),
        acked,
        requests: sent,
        send_s,
        entries_per_s: if matches!(s.load, Load::Bare { .. }) {
            sent as f64 / send_s
        } else {
            acked as f64 / send_s
        },
        latency_p50_ms: percentile(&latencies, 50.0),
        latency_p95_ms: percentile(&latencies, 95.0),
        latency_p99_ms: percentile(&latencies, 99.0),
        lag_p50_ms: percentile(&lags, 50.0),
        lag_p99_ms: percentile(&lags, 99.0),
        rows,
        rows_per_acked: rows as f64 / acked.max(1) as f64,
        landed_s,
        landed_per_s: if matches!(s.load, Load::Bare { .. }) {
            f64::NAN
        } else {
            acked as f64 / landed_s
        },
        d1_statements,
        statements_per_1000: d1_statements as f64 * 1000.0 / acked.max(1) as f64,
        rows_written_per_1000: rows_written as f64 * 1000.0 / acked.max(1) as f64,
        bytes_per_entry: grown as f64 / rows.max(1) as f64,
        page_rows_read,
        stats_rows_read,
        peak_rss_mb: peak_rss as f64 / 1_048_576.0,
        end_rss_mb: logger.rss_bytes() as f64 / 1_048_576.0,
        tail_received: tail_lags.as_ref().map(|l| l.len() as u64),
        tail_lag_p50_ms: tail_lags.as_ref().map(|l| percentile(l, 50.0)),
        tail_lag_p99_ms: tail_lags.as_ref().map(|l| percentile(l, 99.0)),
    }
}

/// The ceiling: the same rows inserted natively into a SQLite file in one transaction, either
/// with the logger's own statement (`json_each` over chunks of rows, the narrow insert that plain
/// REST rows take) or as classic bulk inserts (one prepared statement, one execution per row with
/// its values bound).
fn ceiling(entries: usize, prepared: bool, read_side: bool) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("ceiling.sqlite")).unwrap();
    db.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    // The firehose as the logger creates it; the read side is its search index and the daily
    // counts' upsert that every flush makes.
    db.execute_batch(STATS_TABLE_DDL).unwrap();
    for sql in TableSchema::firehose("logs", read_side).migration(&[]) {
        db.execute(&sql, []).unwrap();
    }
    let now = now_ms();
    let entries_of: Vec<LogEntry> = (0..entries)
        .map(|i| {
            // Bytes 3..10 land in the UUID's random bits (0 and 2 are partly version/variant).
            let mut random = [0u8; 16];
            random[3..10].copy_from_slice(&(i as u64).to_le_bytes()[..7]);
            LogEntry {
                id: new_id(now, random),
                timestamp: now,
                received_at: now,
                app_id: "ceiling".into(),
                level: Level::Info,
                message: format!("bench {i}"),
                request_id: None,
                source: Source::Rest,
                shard: "LOCAL-0".into(),
                request: RequestFields::default(),
                data: json!({"n": i}).as_object().cloned(),
            }
        })
        .collect();
    let rows: Vec<String> = entries_of.iter().map(LogEntry::to_row_json).collect();
    let start = Instant::now();
    let tx = db.unchecked_transaction().unwrap();
    let mut statements = 0;
    if prepared {
        let mut stmt = tx.prepare(reads::ROW_INSERT_SQL).unwrap();
        for e in &entries_of {
            reads::insert_row(&mut stmt, e);
            statements += 1;
        }
    } else {
        let sql = plain_insert_sql("logs", Extract::Jsonb, read_side);
        // Statements as a LogBatcher builds them at default settings.
        let per_statement = Config::default().max_batch_size as usize;
        for part in chunk_ranges(&rows, MAX_PARAM_BYTES, per_statement) {
            if read_side {
                tx.execute(&stats_sql("logs"), {
                    let k = stats_keys(&rows[part.clone()]);
                    [k.groups, k.keys]
                })
                .unwrap();
                statements += 1;
            }
            tx.execute(&sql, [json_array(&rows[part])]).unwrap();
            statements += 1;
        }
    }
    tx.commit().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let n: i64 = db
        .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
        .unwrap();
    Figures {
        scenario: match (prepared, read_side) {
            (true, _) => format!("{entries} rows, row inserts"),
            (false, false) => format!("{entries} rows, json_each"),
            (false, true) => format!("{entries} rows, +FTS+stats"),
        },
        pipeline: "sqlite-native".into(),
        acked: entries as u64,
        requests: 0,
        send_s: secs,
        entries_per_s: entries as f64 / secs,
        rows: n as u64,
        rows_per_acked: n as f64 / entries as f64,
        landed_s: secs,
        landed_per_s: entries as f64 / secs,
        d1_statements: statements,
        statements_per_1000: statements as f64 * 1000.0 / entries as f64,
        rows_written_per_1000: f64::NAN,
        bytes_per_entry: f64::NAN,
        page_rows_read: 0,
        stats_rows_read: 0,
        latency_p50_ms: f64::NAN,
        latency_p95_ms: f64::NAN,
        latency_p99_ms: f64::NAN,
        lag_p50_ms: f64::NAN,
        lag_p99_ms: f64::NAN,
        ..Figures::default()
    }
}

/// Four sender threads in `scope`, taking the request numbers `0..requests` in turn from
/// `next` and handing each to `send`.
fn senders<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    requests: usize,
    next: &'env AtomicUsize,
    send: &'env (dyn Fn(usize) + Sync),
) {
    for _ in 0..4 {
        scope.spawn(move || loop {
            let r = next.fetch_add(1, Ordering::SeqCst);
            if r >= requests {
                return;
            }
            send(r);
        });
    }
}

/// What a fault scenario measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Fault {
    scenario: String,
    accepted: u64,
    landed: u64,
    dead_lettered: u64,
    /// From the end of the injected outage (or of sending) until every good entry was in D1.
    land_after_s: f64,
    /// A replay of every dead letter afterwards: rows stored, rows left (they fail again).
    replay_stored: u64,
    replay_left: u64,
}

fn dead_letter_rows(logger: &Logger) -> u64 {
    let r = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
    r.body["data"]["dead_letters"]["rows"].as_u64().unwrap_or(0)
}

/// The REST load of `rest b1000 c4` (`entries` entries) with a fault: `outage_ms` of D1 being
/// down for the app's writes from the first request on (`X-Debug-Flags: d1_down`), or one entry
/// in a hundred that fails on insert (`poison`). Waits until every good entry is in D1 and the
/// poison is dead-lettered, then replays the dead letters.
fn fault_run(logger: &Logger, name: &str, entries: usize, outage_ms: u64, poison: bool) -> Fault {
    let app = unique("fault");
    let key = logger.create_app(&app);
    let batch = 1_000;
    let good_per_request = if poison { batch - 10 } else { batch };
    let requests = entries.div_ceil(batch);
    let accepted = AtomicU64::new(0);
    let good = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let send = |r: usize| {
        let logs: Vec<Value> = (0..good_per_request)
            .map(|i| json!({"message": format!("fault {r}-{i}")}))
            .collect();
        let mut sends = vec![(json!({ "logs": logs }), None)];
        if r == 0 && outage_ms > 0 {
            sends[0].1 = Some(format!("d1_down={outage_ms}"));
        }
        if poison {
            // 10 poison entries per 1,000: one request each, between the good ones.
            for i in 0..10 {
                let bad = json!({"logs": [{"message": format!("poison {r}-{i}")}]});
                sends.push((bad, Some("poison".to_string())));
            }
        }
        for (body, flags) in sends {
            let n = body["logs"].as_array().map_or(0, Vec::len) as u64;
            let mut headers = vec![
                ("x-api-key", key.as_str()),
                ("content-type", "application/json"),
            ];
            if let Some(f) = flags.as_deref() {
                headers.push(("x-debug-flags", f));
            }
            loop {
                let resp =
                    logger.call("POST", "/logs", &headers, Some(body.to_string().as_bytes()));
                if resp.status == 200 {
                    accepted.fetch_add(n, Ordering::SeqCst);
                    if flags.as_deref() != Some("poison") {
                        good.fetch_add(n, Ordering::SeqCst);
                    }
                    break;
                }
                assert!(
                    resp.code() == "BACKPRESSURE",
                    "refused: {} {}",
                    resp.status,
                    resp.text
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    std::thread::scope(|scope| senders(scope, requests, &next, &send));
    let sent = start.elapsed();
    let outage_end = Duration::from_millis(outage_ms).max(sent);
    let good = good.load(Ordering::SeqCst);
    let poisoned = accepted.load(Ordering::SeqCst) - good;
    let count = || {
        logger.query("SELECT count(*) AS n FROM logs WHERE app_id = ?1", &[&app])[0]["n"]
            .as_u64()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_millis(outage_ms) + LAND_LIMIT;
    while (count() < good || dead_letter_rows(logger) < poisoned) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let land_after_s = start.elapsed().saturating_sub(outage_end).as_secs_f64();
    let landed = count();
    let dead_lettered = dead_letter_rows(logger);
    let replay = logger.call(
        "POST",
        "/admin/dead-letters/replay",
        &[("x-admin-key", ADMIN_KEY)],
        None,
    );
    let records = replay.body["data"]["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sum = |k: &str| {
        records
            .iter()
            .map(|r| r[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    Fault {
        scenario: name.to_string(),
        accepted: accepted.load(Ordering::SeqCst),
        landed,
        dead_lettered,
        land_after_s,
        replay_stored: sum("stored"),
        replay_left: sum("left"),
    }
}

/// What a crash run measured: acknowledged entries, distinct entries in D1, rows in D1 (more
/// than distinct would be duplicates), dead-lettered rows.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Crash {
    run: usize,
    kills: usize,
    acked: u64,
    distinct: u64,
    rows: u64,
    dead_lettered: u64,
}

/// `entries` REST entries (b1000, 4 senders, each entry with its own id so a retried request
/// stores nothing twice) while the whole runtime is SIGKILLed `kills` times and restarted on the
/// same state; senders retry until acknowledged. Then every acknowledged entry must be in D1.
fn crash_run(logger: &mut Logger, run: usize, entries: usize, kills: usize) -> Crash {
    use std::sync::RwLock;
    let app = unique("crash");
    let key = logger.create_app(&app);
    let requests = entries.div_ceil(1_000);
    let acked = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let lock = RwLock::new(std::mem::replace(logger, Logger::placeholder()));
    let send = |r: usize| {
        let logs: Vec<Value> = (0..1_000)
            .map(|i| json!({"id": format!("{run}-{r}-{i}"), "message": format!("crash {r}-{i}")}))
            .collect();
        let body = json!({ "logs": logs }).to_string();
        loop {
            let status = {
                let l = lock.read().unwrap();
                l.try_call(
                    "POST",
                    "/logs",
                    &[("x-api-key", &key), ("content-type", "application/json")],
                    body.as_bytes(),
                )
            };
            if status == Some(200) {
                acked.fetch_add(1_000, Ordering::SeqCst);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    std::thread::scope(|scope| {
        senders(scope, requests, &next, &send);
        // The killer: at evenly spaced points of the run, SIGKILL and restart.
        for k in 1..=kills {
            let at = (requests * 1_000 * k / (kills + 1)) as u64;
            while acked.load(Ordering::SeqCst) < at {
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut l = lock.write().unwrap();
            l.stop("KILL");
            l.restart();
        }
    });
    *logger = lock.into_inner().unwrap();
    let acked = acked.load(Ordering::SeqCst);
    let count = |sql: &str| logger.query(sql, &[&app])[0]["n"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + LAND_LIMIT;
    while count("SELECT count(DISTINCT id) AS n FROM logs WHERE app_id = ?1") < acked
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    Crash {
        run,
        kills,
        acked,
        distinct: count("SELECT count(DISTINCT id) AS n FROM logs WHERE app_id = ?1"),
        rows: count("SELECT count(*) AS n FROM logs WHERE app_id = ?1"),
        dead_lettered: dead_letter_rows(logger),
    }
}

fn wasm_size() -> (u64, u64) {
    let path = harness::root().join("build/index_bg.wasm");
    let raw = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let gz = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c '{}' | wc -c", path.display()))
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0);
    (raw, gz)
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.digits$}")
    }
}

fn print_table(all: &[Figures]) {
    println!(
        "\n{:<15} {:<22} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7} {:>7} {:>7}",
        "pipeline",
        "scenario",
        "acked",
        "entries/s",
        "landed/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "lag p50",
        "lag p99",
        "stmt/1k",
        "wr/1k",
        "B/row",
        "rows/ack",
        "RSS MB",
        "end MB"
    );
    for f in all {
        println!(
            "{:<15} {:<22} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7} {:>7} {:>7}",
            f.pipeline,
            f.scenario,
            f.acked,
            fmt(f.entries_per_s, 0),
            fmt(f.landed_per_s, 0),
            fmt(f.latency_p50_ms, 1),
            fmt(f.latency_p95_ms, 1),
            fmt(f.latency_p99_ms, 1),
            fmt(f.lag_p50_ms, 0),
            fmt(f.lag_p99_ms, 0),
            fmt(f.statements_per_1000, 2),
            fmt(f.rows_written_per_1000, 0),
            fmt(f.bytes_per_entry, 0),
            fmt(f.rows_per_acked, 3),
            fmt(f.peak_rss_mb, 0),
            fmt(f.end_rss_mb, 0),
        );
    }
}

fn best<'a>(all: &'a [Figures], pipeline: &str, prefix: &str) -> Option<&'a Figures> {
    all.iter()
        .filter(|f| f.pipeline == pipeline && f.scenario.starts_with(prefix))
        .max_by(|a, b| a.entries_per_s.total_cmp(&b.entries_per_s))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut quick = false;
    let mut out = harness::root().join("target/bench/latest.json");
    let mut compare: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut baseline_root: Option<PathBuf> = None;
    let mut read_rows: usize = 1_000_000;
    let mut rounds: usize = 10;
    let mut candidate_root: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(args.next().expect("--out FILE")),
            "--compare" => compare = Some(PathBuf::from(args.next().expect("--compare FILE"))),
            "--only" => only = Some(args.next().expect("--only SCENARIO-PREFIX")),
            "--baseline-root" => {
                baseline_root = Some(
                    std::fs::canonicalize(args.next().expect("--baseline-root DIR"))
                        .expect("--baseline-root: a checkout that exists"),
                )
            }
            "--read-rows" => {
                read_rows = args
                    .next()
                    .expect("--read-rows N")
                    .parse()
                    .expect("a number")
            }
            "--rounds" => rounds = args.next().expect("--rounds N").parse().expect("a number"),
            "--candidate-root" => {
                candidate_root = Some(
                    std::fs::canonicalize(args.next().expect("--candidate-root DIR"))
                        .expect("--candidate-root: a checkout that exists"),
                )
            }
            "--var" => {
                let kv = args.next().expect("--var NAME=VALUE");
                let (k, v) = kv.split_once('=').expect("--var NAME=VALUE");
                vars.push((k.to_string(), v.to_string()));
            }
            other => panic!(
                "unknown argument {other:?} (--quick, --out FILE, --compare FILE, --only PREFIX, \
                 --var NAME=VALUE, --baseline-root DIR, --read-rows N, --rounds N, --candidate-root DIR)"
            ),
        }
    }
    let scale = if quick { 10 } else { 1 };
    let rest = |name, batch, concurrency, entries: usize| Scenario {
        name,
        load: Load::Rest { batch, concurrency },
        entries: entries / scale,
        tail: false,
    };
    let forward = |name, concurrency, rpc, entries: usize| Scenario {
        name,
        load: Load::Forward { concurrency, rpc },
        entries: entries / scale,
        tail: false,
    };
    let batched = [
        rest("rest b100 c1", 100, 1, 20_000),
        rest("rest b100 c4", 100, 4, 50_000),
        rest("rest b100 c16", 100, 16, 50_000),
        rest("rest b1000 c4", 1_000, 4, 100_000),
        rest("rest b1000 c16", 1_000, 16, 100_000),
        forward("forward c16", 16, false, 10_000),
        forward("forward rpc c16", 16, true, 10_000),
        Scenario {
            name: "parent only c16",
            load: Load::Bare { concurrency: 16 },
            entries: 10_000 / scale,
            tail: false,
        },
        // The same load as `rest b1000 c4` with a live tail of the app receiving every entry.
        Scenario {
            tail: true,
            ..rest("rest b1000 c4 tailed", 1_000, 4, 100_000)
        },
        // The same load again and again on the same runtime: resident memory must level off.
        rest("soak 1 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 2 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 3 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 4 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 5 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 6 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 7 (b1000 c4)", 1_000, 4, 100_000),
        rest("soak 8 (b1000 c4)", 1_000, 4, 100_000),
    ];
    let naive = [
        rest("rest b100 c4", 100, 4, 10_000),
        rest("rest b1000 c4", 1_000, 4, 20_000),
        forward("forward c16", 16, false, 3_000),
    ];

    let wanted = |s: &Scenario| only.as_deref().is_none_or(|p| s.name.starts_with(p));
    let batched: Vec<Scenario> = batched.into_iter().filter(wanted).collect();
    let naive: Vec<Scenario> = naive.into_iter().filter(wanted).collect();
    let mut all = Vec::new();
    let indexed = !vars.iter().any(|(k, v)| k == "SEARCH_INDEX" && v == "none");
    let mut run_on = |opts: Options, pipeline: &str, scenarios: &[Scenario]| {
        if scenarios.is_empty() {
            return;
        }
        let opts = vars.iter().fold(opts, |o, (k, v)| o.var(k, v));
        let logger = Logger::start_with(opts);
        eprintln!(
            "bench: {pipeline} logger up, RSS {} MB",
            logger.rss_bytes() >> 20
        );
        for s in scenarios {
            let f = run(&logger, pipeline, s, Landing::of(&logger, indexed));
            if s.name.starts_with("soak") {
                let procs: Vec<String> = logger
                    .memory()
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {} MB (anon {}, file {})",
                            p.name,
                            p.rss >> 20,
                            p.anon >> 20,
                            p.file >> 20
                        )
                    })
                    .collect();
                eprintln!("bench: after {}: {}", s.name, procs.join("; "));
            }
            eprintln!(
                "bench: {pipeline} {}: {:.0} entries/s",
                f.scenario, f.entries_per_s
            );
            all.push(f);
        }
    };
    run_on(Options::default(), "batched", &batched);
    run_on(
        Options::default().var("MAX_BATCH_SIZE", 1),
        "no-batching",
        &naive,
    );
    if only
        .as_deref()
        .is_none_or(|p| p.starts_with("sqlite-native"))
    {
        all.push(ceiling(100_000 / scale, false, false));
        all.push(ceiling(100_000 / scale, false, true));
        all.push(ceiling(100_000 / scale, true, false));
    }

    // Faults, on a logger of their own with fault injection on: an outage, and 1% poison.
    let mut faults = Vec::new();
    if only
        .as_deref()
        .is_none_or(|p| "fault".starts_with(p) || p.starts_with("fault"))
    {
        let outage_ms = if quick { 5_000 } else { 30_000 };
        let opts = Options::default()
            .var("DEBUG_FLAGS", "true")
            .var("SHARDING_BUCKET_MS", 86_400_000);
        let logger = Logger::start_with(vars.iter().fold(opts, |o, (k, v)| o.var(k, v)));
        let outage = format!("fault outage {} s", outage_ms / 1_000);
        faults.push(fault_run(
            &logger,
            &outage,
            100_000 / scale,
            outage_ms,
            false,
        ));
        faults.push(fault_run(&logger, "fault 1% poison", 10_000, 0, true));
    }
    let mut crashes = Vec::new();
    if only
        .as_deref()
        .is_none_or(|p| "crash".starts_with(p) || p.starts_with("crash"))
    {
        let mut logger = Logger::start_with(
            vars.iter()
                .fold(Options::default(), |o, (k, v)| o.var(k, v)),
        );
        let (runs, entries) = if quick { (1, 4_000) } else { (5, 20_000) };
        for run in 0..runs {
            crashes.push(crash_run(&mut logger, run, entries, 1 + run % 2));
        }
    }

    // The read side at scale and the migration: only when asked for (`--only reads`,
    // `--only migrate`), as each stores millions of rows first.
    let asked = |name: &str| only.as_deref().is_some_and(|p| p.starts_with(name));
    let read_figures = if asked("reads") {
        reads::run(baseline_root.as_deref(), read_rows / scale)
    } else {
        Vec::new()
    };
    let migration = asked("migrate").then(|| reads::migration(read_rows / scale));
    let cold_starts = if asked("cold") {
        cold::run(baseline_root.as_deref())
    } else {
        Vec::new()
    };
    let rest_ab = asked("rest-ab").then(|| {
        let baseline = baseline_root
            .as_deref()
            .expect("--only rest-ab needs --baseline-root DIR (a built checkout)");
        rest_ab::run_ab(baseline, candidate_root.as_deref(), rounds, scale)
    });

    if !all.is_empty() {
        print_table(&all);
    }
    if !read_figures.is_empty() {
        reads::print(&read_figures);
    }
    if let Some(m) = &migration {
        println!("migrations from 0007: {m}");
    }
    if !cold_starts.is_empty() {
        cold::print(&cold_starts);
    }
    if let Some(ab) = &rest_ab {
        rest_ab::print(ab);
    }
    for f in all.iter().filter(|f| f.page_rows_read > 0) {
        println!(
            "reads: {} {}: a page of the newest 100 entries read {} D1 rows, 7 days of stats {}",
            f.pipeline, f.scenario, f.page_rows_read, f.stats_rows_read
        );
    }
    for c in &crashes {
        println!(
            "crash run {}: {} SIGKILL(s); {} acknowledged, {} distinct in D1, {} rows ({} duplicates), {} dead-lettered",
            c.run, c.kills, c.acked, c.distinct, c.rows, c.rows - c.distinct, c.dead_lettered
        );
    }
    if !faults.is_empty() {
        println!(
            "\n{:<22} {:>9} {:>9} {:>14} {:>16} {:>14} {:>12}",
            "fault scenario",
            "accepted",
            "landed",
            "dead-lettered",
            "landed after s",
            "replay stored",
            "replay left"
        );
        for f in &faults {
            println!(
                "{:<22} {:>9} {:>9} {:>14} {:>16} {:>14} {:>12}",
                f.scenario,
                f.accepted,
                f.landed,
                f.dead_lettered,
                fmt(f.land_after_s, 1),
                f.replay_stored,
                f.replay_left
            );
        }
    }
    for f in all.iter().filter(|f| f.tail_received.is_some()) {
        println!(
            "tail: {} {}: the open tail (level=ERROR) received {} of the run's {} errors; accepted → arrival p50 {} ms, p99 {} ms",
            f.pipeline,
            f.scenario,
            f.tail_received.unwrap_or(0),
            f.acked / 100,
            fmt(f.tail_lag_p50_ms.unwrap_or(f64::NAN), 0),
            fmt(f.tail_lag_p99_ms.unwrap_or(f64::NAN), 0),
        );
    }
    let soak: Vec<&Figures> = all
        .iter()
        .filter(|f| f.scenario.starts_with("soak"))
        .collect();
    if let (Some(first), Some(last)) = (soak.first(), soak.last()) {
        let ends: Vec<String> = soak.iter().map(|f| fmt(f.end_rss_mb, 0)).collect();
        let mid = soak[soak.len() / 2];
        println!(
            "\nmemory: runtime RSS at the end of each soak round {} MB; {:+.0} MB from the first \
             round to the last ({} entries more), {:+.0} MB over the second half ({} entries)",
            ends.join(" → "),
            last.end_rss_mb - first.end_rss_mb,
            soak[1..].iter().map(|f| f.acked).sum::<u64>(),
            last.end_rss_mb - mid.end_rss_mb,
            soak[soak.len() / 2 + 1..]
                .iter()
                .map(|f| f.acked)
                .sum::<u64>()
        );
    }
    let (raw, gz) = wasm_size();
    println!("\nwasm bundle: {raw} bytes raw, {gz} bytes gzip");
    let mut ratios = serde_json::Map::new();
    for (label, prefix) in [("rest", "rest"), ("forward", "forward")] {
        if let (Some(b), Some(n)) = (
            best(&all, "batched", prefix),
            best(&all, "no-batching", prefix),
        ) {
            let r = b.entries_per_s / n.entries_per_s;
            println!(
                "{label}: batched {:.0}/s is {r:.1}x the no-batching baseline ({:.0}/s)",
                b.entries_per_s, n.entries_per_s
            );
            ratios.insert(format!("{label}_vs_baseline"), json!(r));
        }
    }
    // The same load on both pipelines: acknowledged entries/s, and entries/s until all landed.
    let same = |pipeline: &str| {
        all.iter()
            .find(|f| f.pipeline == pipeline && f.scenario == "rest b1000 c4")
    };
    if let (Some(b), Some(n)) = (same("batched"), same("no-batching")) {
        let (acked, landed) = (
            b.entries_per_s / n.entries_per_s,
            b.landed_per_s / n.landed_per_s,
        );
        println!(
            "rest b1000 c4 on both pipelines: {acked:.1}x acknowledged entries/s ({:.0} vs {:.0}), \
             {landed:.1}x entries/s until landed ({:.0} vs {:.0})",
            b.entries_per_s, n.entries_per_s, b.landed_per_s, n.landed_per_s
        );
        ratios.insert("rest_b1000_c4_acked_vs_baseline".into(), json!(acked));
        ratios.insert("rest_b1000_c4_landed_vs_baseline".into(), json!(landed));
    }
    if let (Some(b), Some(c)) = (
        best(&all, "batched", "rest"),
        best(&all, "sqlite-native", ""),
    ) {
        let r = b.entries_per_s / c.entries_per_s;
        println!(
            "rest: batched {:.0}/s is {:.1}% of the best native SQLite insert in one transaction ({:.0}/s)",
            b.entries_per_s,
            r * 100.0,
            c.entries_per_s
        );
        ratios.insert("rest_vs_ceiling".into(), json!(r));
    }
    let native = |suffix: &str| {
        all.iter()
            .find(|f| f.pipeline == "sqlite-native" && f.scenario.ends_with(suffix))
            .map(|f| f.entries_per_s)
    };
    if let (Some(plain), Some(read_side)) = (native("json_each"), native("+FTS+stats")) {
        println!(
            "read side: the full-text index and the stats triggers take the native insert from {plain:.0} to {read_side:.0} rows/s ({:+.0}%)",
            (read_side / plain - 1.0) * 100.0
        );
        ratios.insert("read_side_native_insert".into(), json!(read_side / plain));
    }
    let report = json!({
        "at": now_ms(),
        "quick": quick,
        "wasm_bytes": raw,
        "wasm_gzip_bytes": gz,
        "ratios": ratios,
        "results": all,
        "faults": faults,
        "crashes": crashes,
        "reads": read_figures,
        "migration": migration,
        "cold_starts": cold_starts,
        "rest_ab": rest_ab,
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("results: {}", out.display());

    if let Some(old) = compare {
        let old: Value = serde_json::from_str(&std::fs::read_to_string(&old).unwrap()).unwrap();
        let empty = Vec::new();
        let old = old["results"].as_array().unwrap_or(&empty);
        let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        println!("\ncompared with the earlier run (entries/s, p99 ms):");
        for f in &all {
            if let Some(o) = old.iter().find(|o| {
                o["pipeline"] == f.pipeline.as_str() && o["scenario"] == f.scenario.as_str()
            }) {
                println!(
                    "{:<15} {:<22} {:>9} -> {:>9} ({:+.0}%)   p99 {} -> {}",
                    f.pipeline,
                    f.scenario,
                    fmt(num(o, "entries_per_s"), 0),
                    fmt(f.entries_per_s, 0),
                    (f.entries_per_s / num(o, "entries_per_s") - 1.0) * 100.0,
                    fmt(num(o, "latency_p99_ms"), 1),
                    fmt(f.latency_p99_ms, 1),
                );
            }
        }
    }
    let lost: u64 = all.iter().map(|f| f.acked.saturating_sub(f.rows)).sum();
    assert_eq!(lost, 0, "every acknowledged entry must land");
    for c in &crashes {
        assert_eq!(
            (c.distinct, c.rows),
            (c.acked, c.acked),
            "crash run {}: every acknowledged entry landed once",
            c.run
        );
    }
    for f in &faults {
        assert_eq!(
            f.landed + f.dead_lettered,
            f.accepted,
            "{}: every accepted entry landed or was dead-lettered",
            f.scenario
        );
    }
}
