//! Shell: hands accepted entries to their LogBatcher Durable Objects.
//!
//! Owns the fetch handler's side of the handshake: one call per shard, all shards at once, and
//! success only when every shard has durably buffered its part. A shard that is full answers
//! `BACKPRESSURE`, passed on to the client with its `Retry-After`. Does not decide shards
//! (`shard`) or what a LogBatcher does with the rows (`batch::log_batcher`).

use crate::batch::fault_injection::{poison_row, DebugFlags, Faults};
use crate::batch::log_batcher::protocol::{BatcherError, BatcherStub, IngestRequest};
use crate::ingest::error::IngestError;
use crate::ingest::shard::{group_by_shard, Part};
use crate::model::entry::LogEntry;
use crate::platform::batchers;
use futures::future::join_all;
use worker::{Env, ObjectNamespace};

/// Sends entries to their shards (split by `shard::group_by_shard`), applying the request's
/// debug flags: `poison` rows are made to fail on insert, the rest travel to the shard.
pub async fn deliver_entries(
    env: &Env,
    entries: &[LogEntry],
    flags: &DebugFlags,
) -> Result<(), IngestError> {
    let parts = if flags.poison {
        group_by_shard(entries, |e| poison_row(&e.to_row_json()))
    } else {
        group_by_shard(entries, LogEntry::to_row_json)
    };
    deliver(env, &parts, flags.faults()).await
}

/// Sends every part to its shard. `Ok` means all of them are in a durable buffer.
pub async fn deliver(env: &Env, parts: &[Part], faults: Faults) -> Result<(), IngestError> {
    let ns = batchers(env)?;
    let results = join_all(parts.iter().map(|p| send(&ns, p, faults))).await;
    let mut refusals = Vec::new();
    let mut backpressure: Option<(String, u64)> = None;
    for (part, r) in parts.iter().zip(results) {
        match r {
            Ok(()) => {}
            Err(BatcherError::Backpressure {
                message,
                retry_after,
            }) => {
                let secs = backpressure
                    .as_ref()
                    .map_or(retry_after, |(_, s)| retry_after.max(*s));
                backpressure = Some((message, secs));
            }
            Err(e) => refusals.push(format!("shard {}: {e}", part.shard)),
        }
    }
    if !refusals.is_empty() {
        return Err(IngestError::Platform(
            crate::platform::error::PlatformError::Unavailable(format!(
                "{} of {} shard(s) did not accept their entries: {}",
                refusals.len(),
                parts.len(),
                refusals.join("; ")
            )),
        ));
    }
    match backpressure {
        Some((why, secs)) => Err(IngestError::Backpressure(why, secs)),
        None => Ok(()),
    }
}

async fn send(ns: &ObjectNamespace, part: &Part, faults: Faults) -> Result<(), BatcherError> {
    let stub = BatcherStub::new(ns.get_by_name(&part.shard)?);
    let request = IngestRequest {
        shard: part.shard.clone(),
        entries: part.entries as u64,
        plain: part.plain,
        app: part.app.clone(),
        faults,
    };
    stub.ingest(part.body.as_bytes(), &request).await?;
    Ok(())
}
