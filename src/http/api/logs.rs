//! Shell: `POST /logs`: REST ingest with an app's API key (`X-API-Key`).

use crate::http::envelope::{debug_flags, header, ok, Ctx};
use crate::http::error::ApiError;
use crate::ingest::deliver::deliver_entries;
use crate::ingest::prepare::{Identity, Prepare};
use crate::ingest::rest::{check_declared_size, declared_size, parse_body, Limits};
use crate::model::id::is_request_id;
use crate::platform::now_ms;
use crate::store::registry::Registry;
use serde_json::json;
use worker::{Request, Response};

pub async fn post(mut req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let key = header(&req, "x-api-key");
    let app = Registry::new(&ctx.env)?
        .authenticate(key.as_deref(), "X-API-Key")
        .await?;
    if let Some(claimed) = header(&req, "x-app-id") {
        if claimed != app.app_id.as_str() {
            return Err(ApiError::AppMismatch(format!(
                "X-App-ID {claimed:?} does not match the app of this API key"
            )));
        }
    }
    let c = &ctx.config;
    let limits = Limits {
        max_body_bytes: c.max_body_bytes,
        max_entries: c.max_entries_per_request,
        max_message_bytes: c.max_message_bytes,
    };
    check_declared_size(
        declared_size(header(&req, "content-length").as_deref()),
        &limits,
    )?;
    let (flags, flags_note) = debug_flags(&req, c)?;
    let idempotency_key = header(&req, "idempotency-key");
    if idempotency_key
        .as_deref()
        .is_some_and(|k| !is_request_id(k))
    {
        return Err(ApiError::InvalidEntry(
            "Idempotency-Key: must be 1 to 128 printable characters".into(),
        ));
    }
    let body = req.bytes().await?;
    let now = now_ms();
    let drafts = parse_body(&body, &limits, now)?;
    let header_request_id = header(&req, "x-request-id").filter(|r| is_request_id(r));
    let colo = crate::http::api::forwarded::cf_facts(&req).colo;
    let mut secrets: Vec<&str> = key.as_deref().into_iter().collect();
    secrets.extend(c.admin_api_key.as_deref());

    let prepare = Prepare::new(c, app.app_id.as_str(), now, colo.as_deref(), &secrets);
    // Randomness for every id at once: one call to the platform's CSPRNG per request.
    let mut random = vec![0u8; 16 * drafts.len()];
    getrandom::fill(&mut random).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let mut entries = Vec::with_capacity(drafts.len());
    for (i, draft) in drafts.into_iter().enumerate() {
        // A client-chosen identity makes a retried request store nothing twice.
        let at = draft.timestamp.unwrap_or(now);
        let id = match (&draft.client_id, &idempotency_key) {
            (Some(own), _) => prepare.id(Identity::Client(own), at),
            (None, Some(key)) => prepare.id(Identity::Client(&format!("{key}#{i}")), at),
            (None, None) => {
                let mut r = [0u8; 16];
                r.copy_from_slice(&random[16 * i..16 * (i + 1)]);
                prepare.id(Identity::Random(r), at)
            }
        };
        let mut entry =
            draft.into_entry(id, app.app_id.as_str(), now, header_request_id.as_deref());
        prepare.apply(&mut entry);
        entries.push(entry);
    }
    deliver_entries(&ctx.env, &entries, &flags).await?;
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let mut data = json!({ "accepted": entries.len(), "ids": ids });
    if let Some(note) = flags_note {
        data["debug_flags"] = note;
    }
    Ok(ok(202, data, &ctx.request_id)?)
}
