//! Cold starts, for the benchmark (`scripts/bench --only cold [--baseline-root DIR]`): a fresh
//! `wrangler dev` session per round, each timing the logger's first answers in its fresh isolate
//! — the first `GET /health` (the harness's readiness probe, `Logger::first_health`) and the
//! first `POST /logs` (its first LogBatcher too) — against the second of each, warm. With a
//! baseline checkout (built by `scripts/bench --ab REV`), its worker and this one take turns.

use crate::harness::{Logger, Options};
use crate::reads::median;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One round on a fresh session: [first health, second health, first ingest, second ingest].
fn round(root: Option<&Path>) -> [f64; 4] {
    let opts = match root {
        Some(r) => Options::default().root(r),
        None => Options::default(),
    };
    let logger = Logger::start_with(opts);
    let first_health = ms(logger.first_health);
    let t = Instant::now();
    assert_eq!(logger.call("GET", "/health", &[], None).status, 200);
    let warm_health = ms(t.elapsed());
    let key = logger.create_app("cold");
    let ingest = |n: usize| {
        let body = json!({ "logs": [{ "level": "INFO", "message": format!("cold start {n}") }] });
        let t = Instant::now();
        let r = logger.post_logs(&key, &body);
        assert!(r.status < 300, "{r:?}");
        ms(t.elapsed())
    };
    let first_ingest = ingest(1);
    let warm_ingest = ingest(2);
    [first_health, warm_health, first_ingest, warm_ingest]
}

pub fn run(baseline_root: Option<&Path>) -> Vec<Value> {
    let sides: Vec<(String, Option<&Path>)> = match baseline_root {
        Some(b) => vec![
            (format!("baseline {}", b.display()), Some(b)),
            ("this tree".into(), None),
        ],
        None => vec![("this tree".into(), None)],
    };
    let mut runs: Vec<Vec<[f64; 4]>> = vec![Vec::new(); sides.len()];
    for _ in 0..ROUNDS {
        for (i, (_, root)) in sides.iter().enumerate() {
            runs[i].push(round(*root));
        }
    }
    sides
        .iter()
        .zip(runs)
        .map(|((label, _), rs)| {
            let col = |k: usize| median(rs.iter().map(|r| r[k]).collect());
            json!({
                "side": label, "rounds": ROUNDS,
                "first_health_ms": col(0), "warm_health_ms": col(1),
                "first_ingest_ms": col(2), "warm_ingest_ms": col(3),
            })
        })
        .collect()
}

pub fn print(rows: &[Value]) {
    println!("\ncold start (median of {ROUNDS} fresh sessions): first answer of a fresh isolate, then warm");
    for r in rows {
        println!(
            "{}: GET /health {:.1} ms (warm {:.1}), first POST /logs {:.1} ms (warm {:.1})",
            r["side"].as_str().unwrap_or(""),
            r["first_health_ms"].as_f64().unwrap_or(0.0),
            r["warm_health_ms"].as_f64().unwrap_or(0.0),
            r["first_ingest_ms"].as_f64().unwrap_or(0.0),
            r["warm_ingest_ms"].as_f64().unwrap_or(0.0),
        );
    }
}
