//! Shell: `POST /logs`: REST ingest with an app's key, and what every ingest of parsed entries
//! (`/v1/logs`, `/loki/api/v1/push`) shares with it: the caller's app, the limits, and turning
//! drafts into stored entries (ids, enrichment, delivery to the LogBatchers).

use crate::http::api::access::client;
use crate::http::body::read_body;
use crate::http::envelope::{debug_flags, header, ok, Ctx};
use crate::http::error::ApiError;
use crate::ingest::debug::DebugFlags;
use crate::ingest::deliver::deliver_entries;
use crate::ingest::prepare::{Identity, Prepare};
use crate::ingest::rest::{parse_body, Draft, Limits};
use crate::model::app::AppRecord;
use crate::model::entry::{LogEntry, Source};
use crate::model::id::is_request_id;
use crate::platform::now_ms;
use crate::store::registry::Registry;
use serde_json::json;
use worker::{Request, Response};

pub async fn post(mut req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = Caller::of(&req, ctx).await?;
    if let Some(claimed) = header(&req, "x-app-id") {
        if claimed != caller.app.app_id.as_str() {
            return Err(ApiError::AppMismatch(format!(
                "X-App-ID {claimed:?} does not match the app of this API key"
            )));
        }
    }
    let limits = limits(ctx);
    let (flags, flags_note) = debug_flags(&req, &ctx.config)?;
    let idempotency_key = header(&req, "idempotency-key");
    if idempotency_key
        .as_deref()
        .is_some_and(|k| !is_request_id(k))
    {
        return Err(ApiError::InvalidEntry(
            "Idempotency-Key: must be 1 to 128 printable characters".into(),
        ));
    }
    let body = read_body(&mut req, &limits).await?;
    let drafts = parse_body(&body.bytes, &limits, now_ms())?;
    let entries = caller
        .store(
            ctx,
            &Origin::of(&req),
            drafts,
            (Source::Rest, Naming::Key(idempotency_key.as_deref())),
            &flags,
        )
        .await?;
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let mut data = json!({ "accepted": entries.len(), "ids": ids });
    if let Some(note) = flags_note {
        data["debug_flags"] = note;
    }
    Ok(ok(200, data, &ctx.request_id)?)
}

/// The size limits of one ingest request.
pub fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.config;
    Limits {
        max_body_bytes: c.max_body_bytes,
        max_entries: c.max_entries_per_request,
        max_message_bytes: c.max_message_bytes,
    }
}

/// How a request's entries without an id of their own are named.
#[derive(Debug, Clone, Copy)]
pub enum Naming<'a> {
    /// By the request's `Idempotency-Key` and their place in it; fresh ids without one.
    Key(Option<&'a str>),
    /// By the body's digest and their place in it (`ingest::prepare::Identity::Content`):
    /// for exporters that resend a body they are unsure of, without a key.
    Content(&'a str),
}

/// What the request behind a batch of entries says about them: its `X-Request-ID` (for entries
/// without a request id of their own) and the colo that received it (their shard's).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub colo: Option<String>,
}

impl Origin {
    pub fn of(req: &Request) -> Origin {
        Origin {
            request_id: header(req, "x-request-id").filter(|r| is_request_id(r)),
            colo: crate::http::api::forwarded::cf_facts(req).colo,
        }
    }
}

/// The app a request logs for, by its key (none for the trusted `LoggerService`).
pub struct Caller {
    pub app: AppRecord,
    key: Option<String>,
}

impl Caller {
    pub async fn of(req: &Request, ctx: &Ctx) -> Result<Caller, ApiError> {
        let (app, key) = client(req, ctx).await?;
        Ok(Caller {
            app,
            key: Some(key),
        })
    }

    /// The caller of the trusted `LoggerService`: the app it names, which must exist and not
    /// be being deleted.
    pub async fn trusted(ctx: &Ctx, app_id: &crate::model::app::AppId) -> Result<Caller, ApiError> {
        match Registry::new(&ctx.env)?.get(app_id).await? {
            Some(app) if app.deleting_since.is_none() => Ok(Caller { app, key: None }),
            _ => Err(ApiError::AppNotFound(app_id.as_str().to_string())),
        }
    }

    /// The caller of a key given another way (`from`: `X-Log-Key`, RPC).
    pub async fn by_header(ctx: &Ctx, key: &str, from: &str) -> Result<Caller, ApiError> {
        let app = Registry::new(&ctx.env)?
            .authenticate(Some(key), from)
            .await?;
        Ok(Caller {
            app,
            key: Some(key.to_string()),
        })
    }

    /// The key's secret forms to keep out of stored entries, with the admin key.
    pub fn secrets<'a>(&'a self, ctx: &'a Ctx) -> Vec<&'a str> {
        let mut secrets: Vec<&str> = self.key.as_deref().into_iter().collect();
        secrets.extend(ctx.config.admin_api_key.as_deref());
        secrets
    }

    /// Stores `drafts` as entries of the caller's app from `source`: each gets its id (the
    /// client's own, or one by `naming`, makes a retried request store nothing twice), the
    /// origin's request id where it has no request id of its own, redaction, and is durably
    /// buffered by its LogBatcher before this returns.
    pub async fn store(
        &self,
        ctx: &Ctx,
        origin: &Origin,
        drafts: Vec<Draft>,
        (source, naming): (Source, Naming<'_>),
        flags: &DebugFlags,
    ) -> Result<Vec<LogEntry>, ApiError> {
        let c = &ctx.config;
        let now = now_ms();
        let header_request_id = origin.request_id.as_deref();
        let secrets = self.secrets(ctx);
        let app_id = self.app.app_id.as_str();
        let prepare = Prepare::new(c, app_id, now, origin.colo.as_deref(), &secrets);
        // Randomness for every id at once: one call to the platform's CSPRNG per request.
        let mut random = vec![0u8; 16 * drafts.len()];
        getrandom::fill(&mut random)
            .map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
        let mut entries = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.into_iter().enumerate() {
            let at = draft.timestamp.unwrap_or(now);
            let id = match (&draft.client_id, naming) {
                (Some(own), _) => prepare.id(Identity::Client(own), at),
                (None, Naming::Key(Some(key))) => {
                    prepare.id(Identity::Client(&format!("{key}#{i}")), at)
                }
                (None, Naming::Content(digest)) => {
                    prepare.id(Identity::Content(&format!("{digest}#{i}")), at)
                }
                (None, Naming::Key(None)) => {
                    let mut r = [0u8; 16];
                    r.copy_from_slice(&random[16 * i..16 * (i + 1)]);
                    prepare.id(Identity::Random(r), at)
                }
            };
            let mut entry = draft.into_entry(id, (app_id, source), now, header_request_id);
            prepare.apply(&mut entry);
            entries.push(entry);
        }
        deliver_entries(&ctx.env, &entries, flags).await?;
        Ok(entries)
    }
}
