//! Shell: Dispatch of every request the fetch handler receives.
//!
//! A request carrying `X-Log-Key` is a forwarded request to log, whatever its path; everything
//! else is the dashboard's files (`GET /`, `GET /ui/*`) or the logger's own API, routed by method
//! and path. Errors from any handler become the JSON error envelope
//! here, in one place.

use crate::config::cors::CorsOrigins;
use crate::http::api;
use crate::http::envelope::{self, Ctx};
use crate::http::error::ApiError;
use crate::ingest::enrich::LOG_KEY_HEADER;
use crate::platform::load_config;
use worker::{Env, Method, Request, Response, Result};

pub async fn handle(req: Request, env: Env, exec: worker::Context) -> Result<Response> {
    let request_id = envelope::request_id(&req);
    let (result, cors) = match load_config(&env) {
        Ok(config) => {
            // The origin is read only where CORS is on: a header read is a call into the runtime,
            // and every request (every forwarded log) would pay it.
            let origin = match config.cors_origins {
                CorsOrigins::Off => None,
                _ => envelope::header(&req, "origin"),
            };
            let cors = origin.map(|o| (std::rc::Rc::clone(&config), o));
            let ctx = Ctx {
                env,
                config,
                request_id: request_id.clone(),
                exec: std::rc::Rc::new(exec),
            };
            let answer = route(req, &ctx).await;
            ctx.hand_over_usage();
            (answer, cors)
        }
        Err(e) => (Err(e.into()), None),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => envelope::error(&e, &request_id)?,
    };
    Ok(match cors {
        Some((config, origin)) => with_cors(resp, &config.cors_origins, &origin),
        None => resp,
    })
}

/// An answer with the CORS headers its origin may have (`config::cors`). A WebSocket upgrade
/// and the dashboard's files are left as they are: browsers apply no CORS to the one, and the
/// other is served to its own origin (its headers are the asset binding's, immutable).
fn with_cors(mut resp: Response, cors: &CorsOrigins, origin: &str) -> Response {
    if resp.status_code() == 101 {
        return resp;
    }
    for (name, value) in cors.response_headers(Some(origin)) {
        if resp.headers_mut().set(name, &value).is_err() {
            break;
        }
    }
    resp
}

/// A CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
/// before routing: 204 with what the origin may send, or 403 `ORIGIN_NOT_ALLOWED`.
fn preflight(req: &Request, ctx: &Ctx) -> Option<std::result::Result<Response, ApiError>> {
    if req.method() != Method::Options
        || !req
            .headers()
            .has("access-control-request-method")
            .unwrap_or(false)
    {
        return None;
    }
    let origin = envelope::header(req, "origin")?;
    Some(match ctx.config.cors_origins.preflight(&origin) {
        Ok(headers) => Response::empty()
            .map(|r| r.with_status(204))
            .and_then(|mut r| {
                for (name, value) in headers {
                    r.headers_mut().set(name, &value)?;
                }
                envelope::with_request_id(r, &ctx.request_id)
            })
            .map_err(ApiError::from),
        Err(why) => Err(ApiError::OriginNotAllowed(why.0)),
    })
}

async fn route(req: Request, ctx: &Ctx) -> std::result::Result<Response, ApiError> {
    if req.headers().has(LOG_KEY_HEADER).unwrap_or(false) {
        return api::forwarded::ingest(req, ctx).await;
    }
    if let Some(answer) = preflight(&req, ctx) {
        return answer;
    }
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // The runtime passes any method through (`PROPFIND`, `QUERY`, ...) and `worker` reads the
    // ones it does not know as GET: such a request must not be served as one. TRACE stands in
    // for them below, since no route takes it; messages name the method as sent.
    let sent = req.inner().method();
    let method = match req.method() {
        Method::Get if !sent.eq_ignore_ascii_case("GET") => Method::Trace,
        m => m,
    };
    let not_allowed = |allowed: &'static str| {
        Err(ApiError::MethodNotAllowed {
            method: sent.clone(),
            path: path.clone(),
            allowed,
        })
    };
    match (segments.as_slice(), &method) {
        ([""] | ["ui", ..], Method::Get | Method::Head) => api::dashboard::file(req, ctx).await,
        (["health"], Method::Get) => api::service_health::get(ctx).await,
        (["health"], _) => not_allowed("GET"),
        (["health", id], Method::Get) => api::health_urls::status(req, ctx, id).await,
        (["health", _], _) => not_allowed("GET"),
        (["me"], Method::Get) => api::me::get(req, ctx).await,
        (["me"], _) => not_allowed("GET"),
        (["logs"], Method::Post) => api::logs::post(req, ctx).await,
        (["logs"], Method::Get) => api::query::list(req, ctx).await,
        (["logs"], _) => not_allowed("GET, POST"),
        (["logs", id], Method::Get) => api::query::get(req, ctx, id).await,
        (["logs", _], _) => not_allowed("GET"),
        (["v1", "logs"], Method::Post) => api::otlp::post(req, ctx).await,
        (["v1", "logs"], _) => not_allowed("POST"),
        (["loki", "api", "v1", "push"], Method::Post) => api::loki::push(req, ctx).await,
        (["loki", "api", "v1", "push"], _) => not_allowed("POST"),
        (["tail"], Method::Get) => api::live_tail::connect(req, ctx).await,
        (["tail"], _) => not_allowed("GET"),
        (["tail", "token"], Method::Post) => api::live_tail::token(req, ctx).await,
        (["tail", "token"], _) => not_allowed("POST"),
        (["stats", id], Method::Get) => api::stats::get(req, ctx, id).await,
        (["stats", _], _) => not_allowed("GET"),
        (["apps"], Method::Get) => api::apps::list(req, ctx).await,
        (["apps"], Method::Post) => api::apps::create(req, ctx).await,
        (["apps"], _) => not_allowed("GET, POST"),
        (["apps", id], Method::Get) => api::apps::get(req, ctx, id).await,
        (["apps", id], Method::Delete) => api::apps::delete(req, ctx, id).await,
        (["apps", _], _) => not_allowed("GET, DELETE"),
        (["apps", id, "prune"], Method::Post) => api::prune::post(req, ctx, id).await,
        (["apps", _, "prune"], _) => not_allowed("POST"),
        (["apps", id, "health-urls"], Method::Post) => {
            api::health_urls::register(req, ctx, id).await
        }
        (["apps", _, "health-urls"], _) => not_allowed("POST"),
        (["admin", "status"], Method::Get) => api::admin::status(req, ctx).await,
        (["admin", "status"], _) => not_allowed("GET"),
        (["admin", "dead-letters"], Method::Get) => api::admin::list(req, ctx).await,
        (["admin", "dead-letters"], _) => not_allowed("GET"),
        (["admin", "dead-letters", "replay"], Method::Post) => {
            api::admin::replay_all(req, ctx).await
        }
        (["admin", "dead-letters", key], Method::Get) => api::admin::get(req, ctx, key).await,
        (["admin", "dead-letters", key], Method::Delete) => api::admin::delete(req, ctx, key).await,
        (["admin", "dead-letters", _], _) => not_allowed("GET, DELETE"),
        (["admin", "dead-letters", key, "replay"], Method::Post) => {
            api::admin::replay(req, ctx, key).await
        }
        _ => Err(ApiError::NotFound {
            method: sent.clone(),
            path: path.clone(),
        }),
    }
}
