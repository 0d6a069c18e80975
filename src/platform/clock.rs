//! Shell: the runtime's clock, alarm times and CSPRNG.

use crate::platform::error::PlatformError;
use wasm_bindgen::JsValue;
use worker::ScheduledTime;

/// Milliseconds since the epoch, from the runtime's clock.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// An alarm time from ms since the epoch (`worker` reads a bare i64 as an offset from now).
pub fn alarm_at(ms: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&JsValue::from_f64(ms as f64)))
}

/// Bytes from the platform's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PlatformError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| PlatformError::Internal(format!("no randomness: {e}")))?;
    Ok(buf)
}
