//! Shell: reading rows from D1, with every D1 failure as `STORAGE_UNAVAILABLE`.

use crate::http::error::ApiError;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::D1Database;

/// The rows of one D1 statement; a failing D1 is `STORAGE_UNAVAILABLE`.
pub async fn d1_rows<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<Vec<T>, ApiError> {
    Ok(d1_read(db, sql, params).await?.0)
}

/// The rows of one D1 statement and the rows D1 read for it (what it bills a read by).
pub async fn d1_read<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<(Vec<T>, u64), ApiError> {
    let unavailable = |e: worker::Error| ApiError::StorageUnavailable(format!("D1: {e}"));
    let result = db
        .prepare(sql)
        .bind(params)
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?;
    let read = result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.rows_read)
        .unwrap_or(0) as u64;
    Ok((result.results().map_err(unavailable)?, read))
}
