//! Shell: an ingest request's body as bytes: refused by its declared size before it is read, read,
//! and decompressed when it says `Content-Encoding: gzip` or `deflate` (by the runtime,
//! `platform::decompress`), capped at `MAX_BODY_BYTES` before and after. `snappy` (Loki's
//! protobuf pushes) is left to the caller that knows the format; any other encoding is 415.

use crate::http::envelope::header;
use crate::http::error::ApiError;
use crate::ingest::rest::{check_declared_size, declared_size, Limits};
use crate::platform::decompress::decompress;
use worker::Request;

/// A body as read: its bytes, and whether they are still snappy-compressed.
pub struct Body {
    pub bytes: Vec<u8>,
    pub snappy: bool,
}

/// The body of `req`; `snappy` says whether the caller reads snappy-compressed bodies (Loki's
/// protobuf pushes): elsewhere `Content-Encoding: snappy` is refused like any unknown encoding.
pub async fn read_body(req: &mut Request, limits: &Limits, snappy: bool) -> Result<Body, ApiError> {
    check_declared_size(
        declared_size(header(req, "content-length").as_deref()),
        limits,
    )?;
    let bytes = req.bytes().await?;
    let max = limits.max_body_bytes;
    if bytes.len() > max {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit: max,
        });
    }
    let encoding = header(req, "content-encoding").unwrap_or_default();
    let (bytes, snappy) = match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => (bytes, false),
        "gzip" | "x-gzip" => (decompress(&bytes, "gzip", max).await?, false),
        "deflate" => (decompress(&bytes, "deflate", max).await?, false),
        "snappy" if snappy => (bytes, true),
        _ => {
            return Err(ApiError::UnsupportedEncoding(
                "Content-Encoding: not supported here; send gzip, deflate or none".into(),
            ))
        }
    };
    Ok(Body { bytes, snappy })
}
