//! Shell: `POST /loki/api/v1/push`: Grafana Loki's push API, so Promtail, Grafana Alloy,
//! `winston-loki` and `python-logging-loki` log here as they would to Loki. JSON or protobuf;
//! protobuf comes snappy-compressed, with or without `Content-Encoding: snappy` (clients differ),
//! so a protobuf body is decompressed whenever it is a snappy block. The key comes by HTTP Basic
//! (the password) or any other way `access::client` takes. Answers 204, as Loki does (some
//! clients accept nothing else), and refuses in plain text, as Loki does.

use crate::http::api::access::Caller;
use crate::http::api::logs::limits;
use crate::http::api::otlp::digest;
use crate::http::body::read_body;
use crate::http::envelope::{debug_flags, header, origin, refusal, with_request_id, Ctx};
use crate::http::error::ApiError;
use crate::ingest::intake::Naming;
use crate::ingest::loki::{decode_json, decode_protobuf, drafts};
use crate::ingest::snappy::{decompress, SnappyError};
use crate::model::entry::Source;
use crate::model::json::{text_nesting, MAX_NESTING};
use crate::platform::now_ms;
use worker::{Request, Response};

pub async fn push(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    match store_push(req, ctx).await {
        Ok(resp) => Ok(resp),
        // Refusals as Loki gives them: plain text, here with the logger's code first.
        Err(e) => {
            let body = format!("{}: {e}\n", e.code()).into_bytes();
            let kind = "text/plain; charset=utf-8";
            Ok(refusal(&e, body, kind, &ctx.request_id)?)
        }
    }
}

async fn store_push(mut req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = Caller::of(&req, ctx).await?;
    let limits = limits(ctx);
    let (flags, _) = debug_flags(&req, &ctx.config)?;
    // Media types are case-insensitive (RFC 9110): `Application/JSON` is JSON.
    let content_type = header(&req, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = read_body(&mut req, &limits, true).await?;
    let lines = if content_type.contains("json") {
        if body.snappy {
            return Err(ApiError::UnsupportedEncoding(
                "Content-Encoding: snappy goes with protobuf pushes; send JSON plain or gzip"
                    .into(),
            ));
        }
        if text_nesting(&body.bytes) > MAX_NESTING + 6 {
            return Err(ApiError::NestingTooDeep(format!(
                "the push nests deeper than {MAX_NESTING} levels"
            )));
        }
        let v = serde_json::from_slice(&body.bytes)
            .map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        decode_json(&v)?
    } else {
        let raw = match decompress(&body.bytes, limits.max_body_bytes) {
            Ok(raw) => raw,
            Err(SnappyError::TooLarge(size)) => {
                return Err(ApiError::PayloadTooLarge {
                    size,
                    limit: limits.max_body_bytes,
                })
            }
            // Said to be snappy and is not: refused. Otherwise it may be plain protobuf.
            Err(SnappyError::Corrupt(why)) if body.snappy => {
                return Err(ApiError::InvalidProtobuf(format!(
                    "the snappy block is corrupt: {why}"
                )))
            }
            Err(SnappyError::Corrupt(_)) => body.bytes.clone(),
        };
        decode_protobuf(&raw)?
    };
    let drafts = drafts(lines, &limits, now_ms())?;
    let digest = digest(&body.bytes);
    let sender = caller.sender(ctx, Source::Loki, origin(&req), flags);
    ctx.intake()
        .drafts(&sender, drafts, Naming::Content(&digest))
        .await?;
    Ok(with_request_id(
        Response::empty()?.with_status(204),
        &ctx.request_id,
    )?)
}
