//! REST ingest, this tree's worker against a baseline checkout's, for the benchmark
//! (`scripts/bench --ab-worker REV [ROUNDS]`, or `--only rest-ab --baseline-root DIR --rounds N`):
//! `rest b1000 c4` on a fresh logger per side and round, the two workers taking turns (which goes
//! first alternates by round), every round driven by this one client and harness. `--ab` runs
//! each side's own benchmark instead, so a change to the client or the harness between the two
//! commits (how the poller finds rows, what the session starts) lands in its figures too.
//!
//! Two knobs for experiments, from the environment: `REST_AB_ENTRIES` (default 100,000) makes
//! each run longer, so more of it is warm; `REST_AB_NO_ASSETS` starts the other side without the
//! dashboard's files (what the local assets proxy in front of the worker costs).

use crate::harness::{Logger, Options};
use crate::reads::median;
use crate::{run, Landing, Load, Scenario};
use serde_json::{json, Value};
use std::path::Path;

/// `candidate`: the other side's checkout (`--candidate-root DIR`: two earlier commits compared),
/// this tree's when `None`.
pub fn run_ab(baseline: &Path, candidate: Option<&Path>, rounds: usize, scale: usize) -> Value {
    let scenario = Scenario {
        name: "rest b1000 c4",
        load: Load::Rest {
            batch: 1_000,
            concurrency: 4,
        },
        entries: std::env::var("REST_AB_ENTRIES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000)
            / scale,
        tail: false,
    };
    let labels = [
        format!("baseline {}", baseline.display()),
        candidate.map_or("this tree".into(), |c| format!("candidate {}", c.display())),
    ];
    // Each side's checkout (`None`: this one), and whether the other side leaves out the assets.
    let roots = [Some(baseline), candidate];
    let no_assets = std::env::var_os("REST_AB_NO_ASSETS").is_some();
    // Per side: (acknowledged entries/s, landed entries/s) of each round.
    let mut runs: [Vec<(f64, f64)>; 2] = Default::default();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let logger = Logger::start_with(Options {
                root: roots[side].map(Path::to_path_buf),
                no_assets: side == 1 && no_assets,
                ..Options::default()
            });
            let f = run(
                &logger,
                &labels[side],
                &scenario,
                Landing::of(&logger, true),
            );
            eprintln!(
                "bench: rest-ab round {} {}: {:.0} acknowledged/s, {:.0} landed/s",
                round + 1,
                labels[side],
                f.entries_per_s,
                f.landed_per_s
            );
            runs[side].push((f.entries_per_s, f.landed_per_s));
        }
    }
    let lower = runs[0]
        .iter()
        .zip(&runs[1])
        .filter(|(a, b)| b.0 < a.0)
        .count();
    let side = |i: usize| {
        json!({
            "label": labels[i],
            "acked_per_s": runs[i].iter().map(|r| r.0.round()).collect::<Vec<_>>(),
            "landed_per_s": runs[i].iter().map(|r| r.1.round()).collect::<Vec<_>>(),
            "acked_median": median(runs[i].iter().map(|r| r.0).collect()).round(),
            "landed_median": median(runs[i].iter().map(|r| r.1).collect()).round(),
        })
    };
    json!({
        "scenario": scenario.name,
        "rounds": rounds,
        "baseline": side(0),
        "other": side(1),
        "other_lower_in": lower,
    })
}

pub fn print(ab: &Value) {
    println!(
        "\nrest-ab: {} on fresh loggers, {} rounds, one client",
        ab["scenario"].as_str().unwrap_or_default(),
        ab["rounds"]
    );
    println!("round  baseline acked/s  other acked/s  baseline landed/s  other landed/s");
    let (a, b) = (&ab["baseline"], &ab["other"]);
    let col = |side: &Value, key: &str, i: usize| side[key][i].as_f64().unwrap_or(f64::NAN);
    for i in 0..ab["rounds"].as_u64().unwrap_or(0) as usize {
        println!(
            "{:>5} {:>17.0} {:>13.0} {:>18.0} {:>14.0}",
            i + 1,
            col(a, "acked_per_s", i),
            col(b, "acked_per_s", i),
            col(a, "landed_per_s", i),
            col(b, "landed_per_s", i),
        );
    }
    println!(
        "median {:>16} {:>13} {:>18} {:>14}",
        a["acked_median"], b["acked_median"], a["landed_median"], b["landed_median"]
    );
    println!(
        "{} acknowledged fewer entries/s than the {} in {} of {} rounds",
        b["label"].as_str().unwrap_or_default(),
        a["label"].as_str().unwrap_or_default(),
        ab["other_lower_in"],
        ab["rounds"]
    );
}
