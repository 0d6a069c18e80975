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
    let unavailable = |e: worker::Error| ApiError::StorageUnavailable(format!("D1: {e}"));
    db.prepare(sql)
        .bind(params)
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?
        .results()
        .map_err(unavailable)
}
