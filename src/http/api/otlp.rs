//! Shell: `POST /v1/logs`: OpenTelemetry's OTLP/HTTP logs export, protobuf or JSON (by
//! `Content-Type`), gzip-compressed or not, with the app's key in any header the exporters can
//! send (`OTEL_EXPORTER_OTLP_HEADERS="x-api-key=…"` or `Authorization=Bearer …`). Answers as
//! OTLP asks: 200 with an `ExportLogsServiceResponse` in the request's encoding, whose
//! `partialSuccess` counts the records rejected alone; a refused request is the logger's JSON
//! error with a 4xx (not retried by exporters), and backpressure is 503 with `Retry-After`
//! (retried). An exporter that sends a body again stores nothing twice
//! (`logs::Naming::Content`).

use crate::http::api::access::Caller;
use crate::http::api::logs::limits;
use crate::http::body::read_body;
use crate::http::envelope::{debug_flags, header, origin, refusal, with_request_id, Ctx};
use crate::http::error::ApiError;
use crate::ingest::intake::Naming;
use crate::ingest::otlp::{decode_protobuf, drafts, response, status_body};
use crate::model::entry::Source;
use crate::model::json::{text_nesting, MAX_NESTING};
use crate::platform::now_ms;
use worker::{Request, Response};

pub async fn post(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    // Media types are case-insensitive (RFC 9110): `Application/JSON` is JSON.
    let content_type = header(&req, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let protobuf = content_type.contains("protobuf");
    match export(req, ctx, &content_type, protobuf).await {
        Ok(resp) => Ok(resp),
        // Refusals in OTLP's own form (a `google.rpc.Status`), with the logger's code first.
        Err(e) => {
            let body = status_body(e.status(), &format!("{}: {e}", e.code()), protobuf);
            let kind = if protobuf {
                "application/x-protobuf"
            } else {
                "application/json"
            };
            Ok(refusal(&e, body, kind, &ctx.request_id)?)
        }
    }
}

async fn export(
    mut req: Request,
    ctx: &Ctx,
    content_type: &str,
    protobuf: bool,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&req, ctx).await?;
    let limits = limits(ctx);
    let (flags, _) = debug_flags(&req, &ctx.config)?;
    if !protobuf && !content_type.contains("json") {
        return Err(ApiError::UnsupportedEncoding(
            "Content-Type: OTLP/HTTP sends application/x-protobuf or application/json".into(),
        ));
    }
    let body = read_body(&mut req, &limits, false).await?;
    let request = if protobuf {
        decode_protobuf(&body.bytes)?
    } else {
        // OTLP's JSON nests about 8 levels around a record's attributes.
        if text_nesting(&body.bytes) > MAX_NESTING + 10 {
            return Err(ApiError::NestingTooDeep(format!(
                "the request nests deeper than attributes may ({MAX_NESTING} levels)"
            )));
        }
        serde_json::from_slice(&body.bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))?
    };
    let mut export = drafts(&request, &limits, now_ms())?;
    let digest = digest(&body.bytes);
    if !export.drafts.is_empty() {
        let drafts = std::mem::take(&mut export.drafts);
        let sender = caller.sender(ctx, Source::Otlp, origin(&req), flags);
        ctx.intake()
            .drafts(&sender, drafts, Naming::Content(&digest))
            .await?;
    }
    let mut resp = Response::from_bytes(response(&export, protobuf))?;
    let content_type = if protobuf {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    resp.headers_mut().set("content-type", content_type)?;
    Ok(with_request_id(resp, &ctx.request_id)?)
}

/// A body's SHA-256, hex: what names its entries.
pub fn digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(body)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
