//! The read side at scale, for the benchmark (`scripts/bench --only reads`): the same N REST
//! entries over 7 days in two local D1 databases, one in the earlier layout written the way the
//! earlier release wrote it (its migrations 0001-0006, their indexes and triggers) and served by
//! that release's worker (`--baseline-root`, a checkout built by `scripts/bench --ab`), the other
//! in this layout written with the logger's own statements and served by this worker; then every
//! read shape, median of 15 after a warm-up pass, taking turns (each round starting at another
//! side), with the rounds in which each side answered sooner than the earlier layout. Each layout
//! runs in `SESSIONS` sessions, each on its own copy of its database: a layout is called slower or
//! faster only when all its sessions were, against all the other's (`verdict`). A third database
//! with 5x the rows, this layout, shows whether lookups by request id and by entry id stay the same
//! as the table grows. Last, what the local assets proxy adds to a request (`assets_proxy`).

use crate::harness::{self, Logger, Options};
use d1_logger::model::entry::{LogEntry, RequestFields, Source};
use d1_logger::model::id::new_id;
use d1_logger::model::level::Level;
use d1_logger::store::insert::{
    chunk_ranges, json_array, plain_insert_sql, stats_keys, stats_sql, Extract, MAX_PARAM_BYTES,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

const APP: &str = "reads";
/// Runs of each shape per database; the median is reported. The small shapes take a few
/// milliseconds, where a shared machine's noise is a tenth or more: an odd count of many runs.
const ROUNDS: usize = 15;
const DAY: i64 = 86_400_000;
const VERBS: [&str; 8] = [
    "served", "cached", "queued", "retried", "shipped", "billed", "synced", "indexed",
];
const NOUNS: [&str; 8] = [
    "order", "invoice", "profile", "cart", "session", "upload", "report", "ticket",
];

/// The i-th of `n` entries, spread evenly over the 7 days before `end`.
fn entry(i: usize, n: usize, end: i64) -> LogEntry {
    let ts = end - 7 * DAY + (i as i64 * 7 * DAY) / n as i64;
    let mut random = [0u8; 16];
    random[3..11].copy_from_slice(&(i as u64).to_le_bytes());
    let level = if i.is_multiple_of(20) {
        Level::Error
    } else if i.is_multiple_of(7) {
        Level::Warn
    } else {
        Level::Info
    };
    let message = if i.is_multiple_of(20) {
        format!("payment declined for {} {i}", NOUNS[i % 8])
    } else if i % 100_003 == 17 {
        format!("zebracorn sighting near {} {i}", NOUNS[i % 8])
    } else {
        format!(
            "{} {} {i} in {} ms",
            VERBS[i % 8],
            NOUNS[(i / 8) % 8],
            i % 500
        )
    };
    LogEntry {
        id: new_id(ts, random),
        timestamp: ts,
        received_at: ts,
        app_id: APP.into(),
        level,
        message,
        request_id: Some(format!("req-{i:08x}")),
        source: Source::Rest,
        shard: "LOCAL-0".into(),
        request: RequestFields::default(),
        data: json!({"user": {"id": i % 1000}, "ms": i % 500})
            .as_object()
            .cloned(),
    }
}

/// A row insert of the columns a REST entry fills, one entry per call (`insert_row`).
pub const ROW_INSERT_SQL: &str = "INSERT INTO logs (id, timestamp, received_at, app_id, level, \
     message, request_id, source, shard, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
     ON CONFLICT DO NOTHING";

/// Inserts `e` with [`ROW_INSERT_SQL`].
pub fn insert_row(st: &mut rusqlite::Statement<'_>, e: &LogEntry) {
    let data = e
        .data
        .as_ref()
        .map(|d| Value::Object(d.clone()).to_string());
    st.execute(rusqlite::params![
        e.id,
        e.timestamp,
        e.received_at,
        e.app_id,
        e.level.as_str(),
        e.message,
        e.request_id,
        e.source.as_str(),
        e.shard,
        data
    ])
    .unwrap();
}

/// The earlier layout's rows, as its flushes stored them: its insert, its triggers.
fn fill_earlier(db: &rusqlite::Connection, n: usize, end: i64) {
    let tx = db.unchecked_transaction().unwrap();
    {
        let mut st = tx.prepare(ROW_INSERT_SQL).unwrap();
        for i in 0..n {
            insert_row(&mut st, &entry(i, n, end));
        }
    }
    tx.commit().unwrap();
}

/// This layout's rows, as a LogBatcher's flushes store them: the counts, then the insert.
fn fill_clustered(db: &rusqlite::Connection, n: usize, end: i64) {
    let tx = db.unchecked_transaction().unwrap();
    let insert = plain_insert_sql("logs", Extract::Jsonb, true);
    let stats = stats_sql("logs");
    for start in (0..n).step_by(10_000) {
        let rows: Vec<String> = (start..(start + 10_000).min(n))
            .map(|i| entry(i, n, end).to_row_json())
            .collect();
        for part in chunk_ranges(&rows, MAX_PARAM_BYTES, 1_000) {
            tx.execute(&stats, {
                let k = stats_keys(&rows[part.clone()]);
                [k.groups, k.keys]
            })
            .unwrap();
            tx.execute(&insert, [json_array(&rows[part])]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// A persist directory of `root`'s worker with its migrations applied and `n` entries stored.
fn prepared(root: &Path, dir: &Path, n: usize, end: i64, clustered: bool) -> PathBuf {
    let state = harness::migrated_state(root, dir);
    let t0 = Instant::now();
    let db = rusqlite::Connection::open(harness::d1_file(&state)).unwrap();
    if clustered {
        fill_clustered(&db, n, end);
    } else {
        fill_earlier(&db, n, end);
    }
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    eprintln!(
        "bench: reads: {n} entries stored in the {} layout in {:.1} s",
        if clustered { "clustered" } else { "earlier" },
        t0.elapsed().as_secs_f64()
    );
    state
}

/// One read shape: its name and what it asks (a query string, or a path of its own).
struct Shape {
    name: &'static str,
    path: String,
    /// Pages to walk with the cursor (1: one request).
    pages: usize,
}

fn shapes(n: usize, end: i64) -> Vec<Shape> {
    let mid = entry(n / 2, n, end);
    let window = end - 3 * DAY;
    let one = |name, path: String| Shape {
        name,
        path,
        pages: 1,
    };
    vec![
        one("newest 100", "/logs?limit=100".into()),
        one("level=ERROR", "/logs?level=ERROR&limit=100".into()),
        one(
            "two-word search",
            "/logs?search=payment%20declined&limit=100".into(),
        ),
        one("rare search", "/logs?search=zebracorn&limit=100".into()),
        one(
            "request_id lookup",
            format!("/logs?request_id={}", mid.request_id.unwrap()),
        ),
        one("entry id lookup", format!("/logs/{}", mid.id)),
        one(
            "context.user.id=42",
            "/logs?context.user.id=42&limit=100".into(),
        ),
        one(
            "1-hour window 3 days back",
            format!(
                "/logs?since={}&until={}&limit=1000",
                window,
                window + 3_600_000
            ),
        ),
        Shape {
            name: "20 pages of 100",
            path: "/logs?limit=100".into(),
            pages: 20,
        },
        one("stats 30 days", format!("/stats/{APP}?days=30")),
    ]
}

/// Runs `shape` once: milliseconds, rows returned, D1 rows read (as the answers report them).
fn run_shape(logger: &Logger, key: &str, shape: &Shape) -> (f64, usize, u64) {
    let t0 = Instant::now();
    let (mut rows, mut read) = (0, 0);
    let mut cursor: Option<String> = None;
    for _ in 0..shape.pages {
        let path = match &cursor {
            Some(c) => format!("{}&cursor={c}", shape.path),
            None => shape.path.clone(),
        };
        let r = logger.call("GET", &path, &[("x-api-key", key)], None);
        assert_eq!(r.status, 200, "{}: {r:?}", shape.name);
        let data = &r.body["data"];
        rows += data["logs"]
            .as_array()
            .map_or(usize::from(data["id"].is_string()), Vec::len);
        read += data["d1"]["rows_read"].as_u64().unwrap_or(0);
        cursor = data["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    (t0.elapsed().as_secs_f64() * 1000.0, rows, read)
}

/// The median of some timings (the upper one of an even count); the cold starts use it too.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One side of the comparison: a logger on a prepared database, and its app's key.
struct Side {
    label: String,
    logger: Logger,
    key: String,
}

/// A side of `root` on `state`. This tree's sides run without the dashboard's `[assets]`: the
/// layouts are compared, and locally miniflare answers a worker with assets through a proxy of
/// its own in front of it, a hop per request that `a7ae5e6` (which had no dashboard) does not
/// pay and a deployed worker does not either (`assets_proxy` measures it).
fn side(label: String, root: &Path, state: PathBuf) -> Side {
    let mut opts = Options::default().root(root).state(state);
    if root == harness::root() {
        opts = opts.without_assets();
    }
    let logger = Logger::start_with(opts);
    let key = logger.create_app(APP);
    Side { label, logger, key }
}

/// Sessions of each layout at N rows, each on its own copy of the layout's database: two
/// sessions of one tree on the same data differed by up to a sixth of a few-millisecond shape
/// (1.6 ms of 10), so one session against one proves nothing either way.
const SESSIONS: usize = 3;

/// Which database a side serves.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Earlier,
    Clustered,
    /// This layout with 5x the rows: for the lookups' growth, not compared with the earlier one.
    Clustered5x,
}

/// The figures, one JSON object per shape and side, and per shape the layouts' verdict.
pub fn run(baseline_root: Option<&Path>, n: usize) -> Vec<Value> {
    let end = harness::now_ms() - 60_000;
    let dir = tempfile::tempdir().unwrap();
    let here = harness::root();
    let mut sides: Vec<(Side, Layout)> = Vec::new();
    // The first session serves the prepared database itself, each other one a copy made before
    // any session starts (a running session may write to its database).
    let mut sessions = |layout: Layout, root: &Path, state: PathBuf, name: &str| {
        let copies: Vec<PathBuf> = (1..SESSIONS)
            .map(|i| {
                let copy = state.with_extension(format!("s{i}"));
                harness::copy_dir(&state, &copy);
                copy
            })
            .collect();
        for (i, own) in std::iter::once(state).chain(copies).enumerate() {
            let label = format!("{name}, {n} rows, #{}", i + 1);
            sides.push((side(label, root, own), layout));
        }
    };
    if let Some(base) = baseline_root {
        let state = prepared(base, &dir.path().join("earlier"), n, end, false);
        sessions(Layout::Earlier, base, state, "earlier");
    }
    let state = prepared(&here, &dir.path().join("clustered"), n, end, true);
    sessions(Layout::Clustered, &here, state, "clustered");
    let big = 5 * n;
    let state = prepared(&here, &dir.path().join("clustered-5x"), big, end, true);
    let label = format!("clustered, {big} rows");
    sides.push((side(label, &here, state), Layout::Clustered5x));

    let mut out = Vec::new();
    // Every side first answers every shape once, unmeasured: a fresh isolate runs its wasm
    // unoptimized at first (V8 tiers up what is called often) and a fresh database's pages
    // are not yet in memory, so whichever shape came first would pay for the start.
    for (side, layout) in &sides {
        let n = if *layout == Layout::Clustered5x {
            big
        } else {
            n
        };
        for shape in shapes(n, end) {
            run_shape(&side.logger, &side.key, &shape);
        }
    }
    // The 5x table has other entries at the same places; its lookups find its own.
    for (shape, big_shape) in shapes(n, end).iter().zip(shapes(big, end)) {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
        let mut seen = vec![(0, 0); sides.len()];
        for round in 0..ROUNDS {
            // Each round starts at another side: no side always follows the same one.
            for i in 0..sides.len() {
                let k = (i + round) % sides.len();
                let (side, layout) = &sides[k];
                let shape = match layout {
                    Layout::Clustered5x => &big_shape,
                    _ => shape,
                };
                let (ms, rows, read) = run_shape(&side.logger, &side.key, shape);
                times[k].push(ms);
                seen[k] = (rows, read);
            }
        }
        let medians: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
        for (k, (side, _)) in sides.iter().enumerate() {
            // Rounds in which this side answered sooner than the first (the earlier layout,
            // when there is one): a median a few percent apart on a shared machine may be
            // noise, a side faster in most rounds is not.
            let sooner = (0..ROUNDS).filter(|&r| times[k][r] < times[0][r]).count();
            out.push(json!({
                "shape": shape.name,
                "side": side.label,
                "median_ms": medians[k],
                "rows": seen[k].0,
                "rows_read": seen[k].1,
                "sooner_than_first": (k > 0).then(|| format!("{sooner}/{ROUNDS}")),
            }));
        }
        if baseline_root.is_some() {
            let of = |layout: Layout| -> Vec<f64> {
                (0..sides.len())
                    .filter(|&k| sides[k].1 == layout)
                    .map(|k| medians[k])
                    .collect()
            };
            let (earlier, clustered) = (of(Layout::Earlier), of(Layout::Clustered));
            out.push(json!({
                "shape": shape.name,
                "side": "clustered against earlier",
                "earlier_sessions_ms": earlier,
                "clustered_sessions_ms": clustered,
                "against_earlier": verdict(&clustered, &earlier),
            }));
        }
    }
    drop(sides);
    out.extend(assets_proxy());
    out
}

/// This layout's sessions against the earlier layout's (each a median of the rounds): "slower"
/// when every session of this layout was slower than every session of the earlier one,
/// "faster" when every one was faster, else "within" (the sessions overlap). With `SESSIONS` = 3
/// a side, equal layouts come out one way or the other in 1 of 20 orders each.
fn verdict(this: &[f64], earlier: &[f64]) -> &'static str {
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    if min(this) > max(earlier) {
        "slower"
    } else if max(this) < min(earlier) {
        "faster"
    } else {
        "within"
    }
}

/// What the local assets proxy costs a request: this tree with and without its dashboard's
/// `[assets]`, on empty databases, answering `GET /health` in turns.
fn assets_proxy() -> Vec<Value> {
    const ASKS: usize = 201;
    let sides = [
        ("this tree with its assets", Logger::start()),
        (
            "this tree without assets",
            Logger::start_with(Options::default().without_assets()),
        ),
    ];
    let mut times: [Vec<f64>; 2] = Default::default();
    for round in 0..ASKS + 10 {
        for (k, (_, logger)) in sides.iter().enumerate() {
            let t0 = Instant::now();
            let r = logger.call("GET", "/health", &[], None);
            assert_eq!(r.status, 200, "{r:?}");
            // The first ten are the isolates' start.
            if round >= 10 {
                times[k].push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    sides
        .iter()
        .zip(times)
        .map(|((label, _), t)| {
            json!({
                "shape": "GET /health, assets proxy",
                "side": label,
                "median_ms": median(t),
                "rows": 0,
                "rows_read": 0,
                "asks": ASKS,
            })
        })
        .collect()
}

/// The figures as a table.
pub fn print(figures: &[Value]) {
    let (verdicts, sides): (Vec<&Value>, Vec<&Value>) = figures
        .iter()
        .partition(|f| f["against_earlier"].is_string());
    println!(
        "\n{:<28} {:<32} {:>10} {:>7} {:>10} {:>8}",
        "read", "layout", "median ms", "rows", "D1 read", "sooner"
    );
    for f in sides {
        println!(
            "{:<28} {:<32} {:>10.2} {:>7} {:>10} {:>8}",
            f["shape"].as_str().unwrap_or(""),
            f["side"].as_str().unwrap_or(""),
            f["median_ms"].as_f64().unwrap_or(f64::NAN),
            f["rows"],
            f["rows_read"],
            f["sooner_than_first"].as_str().unwrap_or("")
        );
    }
    let ms = |v: &Value| -> String {
        let list: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| format!("{:.2}", m.as_f64().unwrap_or(f64::NAN)))
            .collect();
        list.join(" ")
    };
    println!(
        "\n{:<28} {:<22} {:<22} {:>8}",
        "read", "earlier sessions ms", "clustered sessions ms", "verdict"
    );
    for f in verdicts {
        println!(
            "{:<28} {:<22} {:<22} {:>8}",
            f["shape"].as_str().unwrap_or(""),
            ms(&f["earlier_sessions_ms"]),
            ms(&f["clustered_sessions_ms"]),
            f["against_earlier"].as_str().unwrap_or("")
        );
    }
}

/// How long `migrations/0007` and the migrations after it (0008 rebuilds the firehose again, for
/// the `health` source) take on a database of `n` entries in the earlier layout, as `wrangler d1
/// migrations apply --local` runs them; and that every row and count came through.
pub fn migration(n: usize) -> Value {
    let here = harness::root();
    let dir = tempfile::tempdir().unwrap();
    // A checkout that is this one but for its migrations: 0001-0006 first, then 0007 on.
    let fake = dir.path().join("root");
    let migrations = fake.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for name in ["wrangler.toml", "src", "build"] {
        std::os::unix::fs::symlink(here.join(name), fake.join(name)).unwrap();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(here.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let first_new = files
        .iter()
        .position(|f| f.ends_with("0007_clustered_logs.sql"))
        .expect("migrations/0007_clustered_logs.sql");
    let later = files.split_off(first_new);
    for f in &files {
        std::fs::copy(f, migrations.join(f.file_name().unwrap())).unwrap();
    }
    let end = harness::now_ms() - 60_000;
    let state = prepared(&fake, dir.path(), n, end, false);
    let before = std::fs::metadata(harness::d1_file(&state)).unwrap().len();
    for f in &later {
        std::fs::copy(f, migrations.join(f.file_name().unwrap())).unwrap();
    }
    let t0 = Instant::now();
    harness::migrated_state(&fake, dir.path());
    let secs = t0.elapsed().as_secs_f64();
    let db = rusqlite::Connection::open(harness::d1_file(&state)).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let rows = count("SELECT count(*) FROM logs");
    let counted = count("SELECT sum(count) FROM log_stats");
    let indexed = count("SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'declined'");
    db.execute_batch("VACUUM").unwrap();
    let after = std::fs::metadata(harness::d1_file(&state)).unwrap().len();
    assert_eq!(
        (rows, counted),
        (n as i64, n as i64),
        "every row and count kept"
    );
    assert_eq!(
        indexed,
        n.div_ceil(20) as i64,
        "the search index holds every row"
    );
    eprintln!(
        "bench: migrations 0007 to {} of {n} rows: {secs:.1} s",
        later.len() + 6
    );
    json!({
        "rows": n,
        "seconds": secs,
        "file_bytes_before": before,
        "file_bytes_after_vacuum": after,
    })
}

#[cfg(test)]
mod tests {
    use super::verdict;

    #[test]
    fn a_layout_is_slower_or_faster_only_when_no_sessions_overlap() {
        let earlier = [10.0, 10.4, 10.2];
        assert_eq!(verdict(&[10.5, 10.6, 11.0], &earlier), "slower");
        assert_eq!(verdict(&[10.3, 10.6, 11.0], &earlier), "within");
        assert_eq!(verdict(&[9.1, 9.9, 9.5], &earlier), "faster");
        assert_eq!(verdict(&[9.1, 10.0, 9.5], &earlier), "within");
    }
}
