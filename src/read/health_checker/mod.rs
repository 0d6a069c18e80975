//! Shell: `HealthChecker`, the Durable Object (one per app) that checks the app's registered URLs.
//!
//! `POST /apps/:app_id/health-urls` stores the URLs in D1 and calls `start`, which remembers the
//! app and arms the alarm at once. Each alarm checks every URL concurrently, each with a timeout
//! (`HEALTH_CHECK_TIMEOUT_MS`), stores the results in D1 (keeping the newest 1,000 per URL), logs
//! every failure as a WARN or ERROR entry of the app through the ordinary ingest path (a
//! LogBatcher), and arms the next alarm `HEALTH_CHECK_INTERVAL_MS` later. An app without URLs is
//! not checked again until some are registered. What an outcome means and how results are kept
//! and shown is `health`'s.

pub mod protocol;

use crate::apps::app::AppId;
use crate::batch::fault_injection::DebugFlags;
use crate::ingest::intake::{Intake, Naming, Origin, Sender};
use crate::ingest::rest::Draft;
use crate::model::entry::Source;
use crate::platform::metered_db;
use crate::platform::rpc::{parse_request, reply};
use crate::platform::usage::Work;
use crate::platform::usage_meter::protocol::hand_over;
use crate::platform::{alarm_at, load_config, now_ms};
use crate::read::url_checks::{
    insert_result_sql, trim_results_sql, unreachable_host, urls_sql, CheckResult, CHECKS_TABLE,
    URLS_TABLE,
};
use futures::future::{join_all, select, Either};
use protocol::{CheckerError, StartRequest};
use serde::Deserialize;
use std::time::Duration;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{
    console_error, durable_object, Delay, DurableObject, Env, Fetch, Request, RequestInit,
    RequestRedirect, Response, Result, State,
};

const APP_KEY: &str = "app_id";

/// One app's health checks: which app it checks (in its storage) and the alarm that runs them.
#[durable_object]
pub struct HealthChecker {
    state: State,
    env: Env,
}

impl DurableObject for HealthChecker {
    fn new(state: State, env: Env) -> Self {
        HealthChecker { state, env }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("HealthChecker is called over RPC (start)", 404)
    }

    async fn alarm(&self) -> Result<Response> {
        let Some(app_id) = self.state.storage().get::<String>(APP_KEY).await? else {
            return Response::ok("no app");
        };
        let config = load_config(&self.env).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let db = metered_db(&self.env, Work::HealthChecks)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        #[derive(Deserialize)]
        struct Url {
            url: String,
        }
        let listing = db.prepare(urls_sql()).bind(&[JsValue::from_str(&app_id)])?;
        let urls: Vec<Url> = db.all(URLS_TABLE, listing).await?.results()?;
        if urls.is_empty() {
            return Response::ok("no URLs");
        }
        let timeout = config.health_check_timeout_ms;
        let allow_private = config.health_check_allow_private;
        let results = join_all(urls.iter().map(|u| check(&u.url, timeout, allow_private))).await;

        let mut statements = Vec::new();
        for r in &results {
            statements.push(
                db.prepare(insert_result_sql()).bind(&[
                    JsValue::from_str(&app_id),
                    JsValue::from_str(&r.url),
                    JsValue::from_f64(r.checked_at as f64),
                    JsValue::from_f64(if r.ok() { 1.0 } else { 0.0 }),
                    r.status
                        .map_or(JsValue::NULL, |s| JsValue::from_f64(f64::from(s))),
                    JsValue::from_f64(r.latency_ms as f64),
                    r.error.as_deref().map_or(JsValue::NULL, JsValue::from_str),
                ])?,
            );
            statements.push(
                db.prepare(trim_results_sql())
                    .bind(&[JsValue::from_str(&app_id), JsValue::from_str(&r.url)])?,
            );
        }
        if let Err(e) = db.batch(CHECKS_TABLE, statements).await {
            console_error!("HealthChecker {app_id}: storing results failed: {e}");
        }
        drop(db);
        hand_over(&self.env).await;

        // Failures become log entries of the app, through the one ingest use case.
        let drafts: Vec<Draft> = results.iter().filter_map(failure_draft).collect();
        if let (false, Ok(app)) = (drafts.is_empty(), AppId::parse(&app_id)) {
            let sender = Sender {
                app: &app,
                secrets: Vec::new(),
                source: Source::Health,
                origin: Origin::default(),
                flags: DebugFlags::default(),
            };
            let intake = Intake {
                env: &self.env,
                config: &config,
            };
            if let Err(e) = intake.drafts(&sender, drafts, Naming::Key(None)).await {
                console_error!("HealthChecker {app_id}: logging failures failed: {e}");
            }
        }
        self.arm(now_ms() + config.health_check_interval_ms as i64)
            .await?;
        Response::ok("checked")
    }
}

/// JS RPC methods (exposed through `src/worker.mjs`); requests and replies are `protocol`'s
/// types as JSON.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl HealthChecker {
    #[wasm_bindgen(js_name = start)]
    pub async fn start_rpc(&self, request: String) -> String {
        let answer = match parse_request::<StartRequest, CheckerError>(&request) {
            Ok(q) => self.start(q).await,
            Err(e) => Err(e),
        };
        reply(&answer)
    }

    #[wasm_bindgen(js_name = stop)]
    pub async fn stop_rpc(&self) -> String {
        reply(&self.stop().await)
    }
}

impl HealthChecker {
    async fn stop(&self) -> std::result::Result<(), CheckerError> {
        self.state.storage().delete(APP_KEY).await?;
        self.state.storage().delete_alarm().await?;
        Ok(())
    }

    /// Remembers the app this object checks and arms the alarm now (a new or changed list of
    /// URLs is checked at once; the alarm then keeps the interval).
    async fn start(&self, q: StartRequest) -> std::result::Result<(), CheckerError> {
        self.state.storage().put(APP_KEY, &q.app_id).await?;
        self.arm(now_ms()).await?;
        Ok(())
    }

    async fn arm(&self, at: i64) -> Result<()> {
        self.state.storage().set_alarm(alarm_at(at)).await
    }
}

/// One GET of `url`, with a timeout. The latency is wall time from the request to the answer's
/// headers.
async fn check(url: &str, timeout_ms: u64, allow_private: bool) -> CheckResult {
    let started = now_ms();
    let parsed = url
        .parse::<url::Url>()
        .map_err(|e| CheckFailed(format!("not a URL: {e}")));
    // Checked again here: a URL stored before a change of the rules is never fetched.
    let refused = parsed
        .as_ref()
        .ok()
        .filter(|_| !allow_private)
        .and_then(unreachable_host);
    let outcome = match (parsed, refused) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(why)) => Err(CheckFailed(why)),
        (Ok(parsed), None) => {
            // A redirect is the check's answer, not a place to go: following one would let a
            // public URL lead the check to an internal address.
            let mut init = RequestInit::new();
            init.with_redirect(RequestRedirect::Manual);
            let request = match Request::new_with_init(parsed.as_str(), &init) {
                Ok(r) => Fetch::Request(r),
                Err(e) => return failed(url, started, e.to_string()),
            };
            let fetch = Box::pin(request.send());
            let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
            let answer = match select(fetch, timer).await {
                Either::Left((Ok(resp), _)) => Ok(resp.status_code()),
                Either::Left((Err(e), _)) => Err(CheckFailed(e.to_string())),
                Either::Right(_) => Err(CheckFailed(format!("no answer within {timeout_ms} ms"))),
            };
            answer
        }
    };
    done(url, started, outcome)
}

/// A failed check as the entry it is logged as: WARN for a 4xx answer, ERROR for a 5xx answer or
/// none, at the check's own time, with `context.health_check`.
fn failure_draft(r: &CheckResult) -> Option<Draft> {
    Some(Draft {
        level: r.level()?,
        message: r.message(),
        timestamp: Some(r.checked_at),
        request_id: None,
        context: Some(r.context()),
        client_id: None,
    })
}

/// Why a check got no answer (a URL that is not one, a refused host, the network, the timeout):
/// what its result records.
struct CheckFailed(String);

fn failed(url: &str, started: i64, error: String) -> CheckResult {
    done(url, started, Err(CheckFailed(error)))
}

fn done(url: &str, started: i64, outcome: std::result::Result<u16, CheckFailed>) -> CheckResult {
    let latency_ms = (now_ms() - started).max(0);
    let (status, error) = match outcome {
        Ok(status) => (Some(status), None),
        Err(CheckFailed(e)) => (None, Some(e)),
    };
    CheckResult {
        url: url.to_string(),
        checked_at: started,
        status,
        latency_ms,
        error,
    }
}
