//! Shell: the one ingest use case. Whatever the way in (REST, NDJSON, OTLP, Loki, a parent's
//! forwarded request, RPC, a Tail Worker's trace items, a health check's failures), entries are
//! made the same way: each gets its id, the origin's request id where it has none, its secrets
//! removed and its shard stamped (`prepare`), and all are durably buffered by their LogBatchers
//! (`deliver`) before this returns. The adapters (`http::api::*`, the RPC entrypoints, `tail()`,
//! the HealthChecker) only turn their wire form into one of the inputs here, and the entries
//! back into theirs.
//!
//! Does not authenticate (the adapter knows its caller's app) nor parse wire forms (`rest`,
//! `otlp`, `loki`, `tail`, `enrich` do).

use crate::apps::app::AppId;
use crate::apps::registry::Registry;
use crate::batch::fault_injection::DebugFlags;
use crate::config::Config;
use crate::ingest::deliver::deliver_entries;
use crate::ingest::enrich::{enrich, EnrichOptions, ForwardedRequest};
use crate::ingest::error::IngestError;
use crate::ingest::prepare::{Identity, Prepare};
use crate::ingest::rest::Draft;
use crate::ingest::tail_worker::{app_for, invocation_entries, keep, Invocation, TraceItem};
use crate::model::entry::{LogEntry, Source};
use crate::model::id::{is_request_id, new_id};
use crate::platform::{now_ms, random_bytes};
use worker::{console_error, Env};

/// Who sends a request's entries, and how they came.
pub struct Sender<'a> {
    /// The app the entries are logged for.
    pub app: &'a AppId,
    /// Values never stored, in any form (the caller's key, the admin key).
    pub secrets: Vec<&'a str>,
    pub source: Source,
    pub origin: Origin,
    /// Fault injection the request asked for (`X-Debug-Flags`, honoured with `DEBUG_FLAGS`).
    pub flags: DebugFlags,
}

/// How a request's entries without an id of their own are named.
#[derive(Debug, Clone, Copy)]
pub enum Naming<'a> {
    /// By the request's `Idempotency-Key` and their place in it; fresh ids without one.
    Key(Option<&'a str>),
    /// By the body's digest and their place in it (`prepare::Identity::Content`): for exporters
    /// that resend a body they are unsure of, without a key.
    Content(&'a str),
}

/// What the request behind a batch of entries says about them: its `X-Request-ID` (for entries
/// without a request id of their own) and the colo that received it (their shard's).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub colo: Option<String>,
}

/// The use case over one invocation's bindings and configuration.
pub struct Intake<'a> {
    pub env: &'a Env,
    pub config: &'a Config,
}

impl Intake<'_> {
    /// Stores `drafts` (REST, NDJSON, OTLP, Loki, RPC `log`/`logBatch`, health checks) as
    /// entries of `sender`'s app: each gets the client's own id, or one by `naming`, so a retried
    /// request stores nothing twice.
    pub async fn drafts(
        &self,
        sender: &Sender<'_>,
        drafts: Vec<Draft>,
        naming: Naming<'_>,
    ) -> Result<Vec<LogEntry>, IngestError> {
        let now = now_ms();
        let prepare = self.prepare(sender, now, sender.origin.colo.as_deref());
        // Randomness for every id at once: one call to the platform's CSPRNG per request.
        let mut random = vec![0u8; 16 * drafts.len()];
        getrandom::fill(&mut random)
            .map_err(|e| crate::platform::PlatformError::Internal(format!("no randomness: {e}")))?;
        let app = sender.app.as_str();
        let header_request_id = sender.origin.request_id.as_deref();
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
            let mut entry = draft.into_entry(id, (app, sender.source), now, header_request_id);
            prepare.apply(&mut entry);
            entries.push(entry);
        }
        deliver_entries(self.env, &entries, &sender.flags).await?;
        Ok(entries)
    }

    /// Stores one entry for a parent's `request` (the forwarded path, RPC `logRequest`):
    /// enriched from the request and its `X-Log-*` headers, named by its `Idempotency-Key` if it
    /// has one.
    pub async fn request(
        &self,
        sender: &Sender<'_>,
        request: ForwardedRequest,
    ) -> Result<LogEntry, IngestError> {
        let now = now_ms();
        let prepare = self.prepare(sender, now, request.cf.colo.as_deref());
        // A parent that retries with the same Idempotency-Key stores the entry once.
        let id = match request.header("idempotency-key") {
            Some(k) if is_request_id(k) => prepare.id(Identity::Client(k), now),
            Some(_) => {
                return Err(IngestError::InvalidEntry(
                    "Idempotency-Key: must be 1 to 128 printable characters".into(),
                ))
            }
            None => prepare.id(Identity::Random(random_bytes::<16>()?), now),
        };
        let mut entry = enrich(&request, &self.enrich_options(sender.app, id, now))?;
        entry.source = sender.source;
        prepare.apply(&mut entry);
        deliver_entries(self.env, std::slice::from_ref(&entry), &sender.flags).await?;
        Ok(entry)
    }

    /// Stores a Tail Worker delivery: each trace item (one invocation) that sampling keeps
    /// becomes entries of the app its script maps to. An item whose script maps to no app (or
    /// to one that does not exist) is reported in the logger's own log; it never fails the
    /// others. Answers how many entries were stored.
    pub async fn trace_items(&self, items: &[TraceItem]) -> Result<usize, IngestError> {
        let registry = Registry::new(self.env)?;
        let secrets: Vec<&str> = self.config.admin_api_key.as_deref().into_iter().collect();
        let mut out: Vec<LogEntry> = Vec::new();
        // An app's record is read once per delivery, however many of its invocations it holds.
        let mut known: Vec<(AppId, bool)> = Vec::new();
        for item in items {
            let draw = u64::from_le_bytes(random_bytes::<8>()?) as f64 / u64::MAX as f64;
            if !keep(item, self.config.tail_sample_rate, draw) {
                continue;
            }
            let Some(app) = self.live_app(&registry, item, &mut known).await? else {
                continue;
            };
            let sender = Sender {
                app: &app,
                secrets: secrets.clone(),
                source: Source::Tail,
                origin: Origin::default(),
                flags: DebugFlags::default(),
            };
            out.extend(self.invocation(&sender, item)?);
        }
        if !out.is_empty() {
            deliver_entries(self.env, &out, &DebugFlags::default()).await?;
        }
        Ok(out.len())
    }

    /// The app `item`'s script logs to, if it is one that exists and is not being deleted.
    async fn live_app(
        &self,
        registry: &Registry,
        item: &TraceItem,
        known: &mut Vec<(AppId, bool)>,
    ) -> Result<Option<AppId>, IngestError> {
        let script = item.script_name.as_deref();
        let Some(name) = app_for(&self.config.tail_apps, script) else {
            console_error!(
                "tail: no app for script {script:?}: set TAIL_APPS (\"*\" for any script)"
            );
            return Ok(None);
        };
        let live = match AppId::parse(name) {
            Ok(id) => match known.iter().find(|(k, _)| *k == id) {
                Some((_, live)) => live.then_some(id),
                None => {
                    let record = registry.get(&id).await?;
                    let live = record.is_some_and(|r| r.deleting_since.is_none());
                    known.push((id.clone(), live));
                    live.then_some(id)
                }
            },
            Err(_) => None,
        };
        if live.is_none() {
            console_error!("tail: script {script:?} maps to {name:?}, which is no app");
        }
        Ok(live)
    }

    /// One invocation's entries, prepared: every one carries the invocation's request (enriched
    /// as a forwarded one) and one request id.
    fn invocation(
        &self,
        sender: &Sender<'_>,
        item: &TraceItem,
    ) -> Result<Vec<LogEntry>, IngestError> {
        let now = now_ms();
        let request = item.forwarded();
        let colo = request.as_ref().and_then(|r| r.cf.colo.clone());
        let prepare = self.prepare(sender, now, colo.as_deref());
        let base = request
            .as_ref()
            .and_then(|r| enrich(r, &self.enrich_options(sender.app, String::new(), now)).ok());
        let fallback_id = new_id(now, random_bytes::<16>()?);
        let invocation = Invocation {
            app_id: sender.app.as_str(),
            base: base.as_ref(),
            fallback_request_id: &fallback_id,
            now_ms: now,
            max_message_bytes: self.config.max_message_bytes,
            max_data_bytes: self.config.max_log_data_bytes,
        };
        let mut entries = Vec::new();
        for mut entry in invocation_entries(item, &invocation) {
            entry.id = prepare.id(Identity::Random(random_bytes::<16>()?), entry.timestamp);
            prepare.apply(&mut entry);
            entries.push(entry);
        }
        Ok(entries)
    }

    fn prepare<'p>(
        &'p self,
        sender: &'p Sender<'_>,
        now: i64,
        colo: Option<&'p str>,
    ) -> Prepare<'p> {
        Prepare::new(self.config, sender.app.as_str(), now, colo, &sender.secrets)
    }

    fn enrich_options<'o>(&self, app: &'o AppId, id: String, now: i64) -> EnrichOptions<'o> {
        EnrichOptions {
            id,
            now_ms: now,
            app_id: app.as_str(),
            log_client_ip: self.config.log_client_ip,
            max_message_bytes: self.config.max_message_bytes,
            max_log_data_bytes: self.config.max_log_data_bytes,
        }
    }
}
