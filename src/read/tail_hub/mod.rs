//! Shell: `TailHub`, the Durable Object (one per app) that holds the app's live-tail WebSockets and
//! pushes each acknowledged entry to the clients that want it.
//!
//! Sockets are accepted with the hibernation API, so an idle hub costs nothing and its clients
//! stay connected while it sleeps; each socket's filters and flow state live in its attachment
//! (`tail::Subscriber`). LogBatchers call `publish` with the rows they just acknowledged, in
//! acknowledgement order; the hub keeps the newest `tail::RECENT_ENTRIES` in its SQLite storage
//! for clients that resume with `last_id`. `active` tells a LogBatcher whether publishing is
//! worth anything. What a client gets is `tail`'s; authentication is `api::tail`'s; the calls are
//! `protocol`'s.

pub mod protocol;

use crate::batch::part::split_rows;
use crate::platform::load_config;
use crate::platform::rpc::CallError;
use crate::platform::rpc::{parse_request, reply};
use crate::read::live_tail::{
    log_message, parse_ack, ready_message, Subscriber, RECENT_ENTRIES, SLOW_CONSUMER,
};
use protocol::{CloseRequest, Closed, ConnectRequest, HubError, CONNECT_HEADER, REVOKED};
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{
    console_error, durable_object, DurableObject, Env, Request, Response, Result, SqlStorageValue,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

/// After its last client left, a hub keeps taking entries this long, so a client that
/// reconnects with `last_id` (a network blip, a redeploy) misses nothing.
const RESUME_WINDOW_MS: f64 = 60_000.0;
const LAST_CLOSE_KEY: &str = "last_close";

/// One app's live tails: its WebSockets (hibernated) and the recent entries they may resume from.
#[durable_object]
pub struct TailHub {
    state: State,
    env: Env,
}

#[derive(Deserialize)]
struct Recent {
    row: String,
}

impl DurableObject for TailHub {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS recent (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
             id TEXT NOT NULL, row TEXT NOT NULL)",
            None,
        ) {
            console_error!("TailHub: creating its table failed: {e}");
        }
        TailHub { state, env }
    }

    /// A WebSocket upgrade carrying a `protocol::ConnectRequest` (from `api::tail`, which
    /// authenticated the client and checked its filters).
    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.attach(&req) {
            Ok(resp) => Ok(resp),
            Err(e) => e.response(),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        if let WebSocketIncomingMessage::String(text) = message {
            if let Some(n) = parse_ack(&text) {
                if let Some(mut sub) = ws.deserialize_attachment::<Subscriber>()? {
                    sub.acked = sub.acked.max(n.min(sub.sent));
                    ws.serialize_attachment(&sub)?;
                }
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.state
            .storage()
            .put(LAST_CLOSE_KEY, crate::platform::now_ms() as f64)
            .await?;
        // Complete the closing handshake the client started.
        let code = if (1000..5000).contains(&code) && code != 1005 && code != 1006 {
            code as u16
        } else {
            1000
        };
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        Ok(())
    }
}

/// JS RPC methods (exposed through `src/worker.mjs`); replies are `protocol`'s types as JSON.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl TailHub {
    #[wasm_bindgen(js_name = active)]
    pub async fn active_rpc(&self) -> String {
        reply(&self.active().await)
    }

    #[wasm_bindgen(js_name = publish)]
    pub async fn publish_rpc(&self, rows: String) -> String {
        reply(&self.publish(&rows))
    }

    #[wasm_bindgen(js_name = revoke)]
    pub async fn revoke_rpc(&self, request: String) -> String {
        let answer = match parse_request::<CloseRequest, HubError>(&request) {
            Ok(q) => self.close(&q),
            Err(e) => Err(e),
        };
        reply(&answer)
    }
}

impl TailHub {
    /// Ends every tail (the app's key was revoked) and forgets the entries kept for resuming,
    /// so no later connection, whatever its token, sees them.
    fn close(&self, q: &CloseRequest) -> std::result::Result<Closed, HubError> {
        let sockets = self.state.get_websockets();
        for ws in &sockets {
            let _ = ws.close(Some(REVOKED), Some(q.reason.clone()));
        }
        self.state
            .storage()
            .sql()
            .exec("DELETE FROM recent", None)?;
        Ok(Closed {
            tails: sockets.len(),
        })
    }

    fn attach(&self, req: &Request) -> std::result::Result<Response, HubError> {
        let config = load_config(&self.env).map_err(|e| HubError::ConfigInvalid(e.to_string()))?;
        let text = req
            .headers()
            .get(CONNECT_HEADER)?
            .ok_or_else(|| CallError::Malformed(format!("no {CONNECT_HEADER} header")))?;
        let ConnectRequest { query: q, .. } = parse_request::<_, HubError>(&text)?;
        let open = self.state.get_websockets().len();
        if open >= config.tail_max_connections {
            return Err(HubError::TooManyTails(format!(
                "{open} live tails are open for this app; the limit is {} (TAIL_MAX_CONNECTIONS)",
                config.tail_max_connections
            )));
        }
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        self.state.accept_web_socket(&server);
        let mut sub = q.subscriber;
        // Resume: what the buffer holds after the last entry the client saw.
        let (backlog, gap) = match &q.last_id {
            None => (Vec::new(), false),
            Some(id) => self.since(id)?,
        };
        let mut resumed = 0;
        for r in &backlog {
            let Ok(row) = serde_json::from_str::<Vec<Value>>(&r.row) else {
                continue;
            };
            if sub.wants(&row, &config.routes) {
                sub.sent += 1;
                resumed += 1;
                server.send_with_str(log_message(sub.sent, &row))?;
            }
        }
        server.send_with_str(ready_message(resumed, gap))?;
        server.serialize_attachment(&sub)?;
        Ok(Response::from_websocket(pair.client)?)
    }

    /// Whether entries are wanted: a client is connected, or one left less than
    /// `RESUME_WINDOW_MS` ago and may resume. A LogBatcher publishes only then.
    async fn active(&self) -> std::result::Result<bool, HubError> {
        if !self.state.get_websockets().is_empty() {
            return Ok(true);
        }
        let last_close: Option<f64> = self.state.storage().get(LAST_CLOSE_KEY).await?;
        Ok(last_close.is_some_and(|t| crate::platform::now_ms() as f64 - t < RESUME_WINDOW_MS))
    }

    /// Takes a JSON array of rows just acknowledged, keeps them for resuming clients, and sends
    /// each to the clients that want it; a client too far behind is closed.
    fn publish(&self, rows: &str) -> std::result::Result<(), HubError> {
        let config = load_config(&self.env).map_err(|e| HubError::ConfigInvalid(e.to_string()))?;
        let texts = split_rows(rows).unwrap_or_default();
        let parsed: Vec<Vec<Value>> = texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        let sql = self.state.storage().sql();
        for (text, row) in texts.iter().zip(&parsed) {
            let id = row.first().and_then(Value::as_str).unwrap_or_default();
            sql.exec(
                "INSERT INTO recent (id, row) VALUES (?1, ?2)",
                vec![SqlStorageValue::from(id), SqlStorageValue::from(*text)],
            )?;
        }
        sql.exec(
            "DELETE FROM recent WHERE seq <= (SELECT max(seq) FROM recent) - ?1",
            vec![SqlStorageValue::from(RECENT_ENTRIES)],
        )?;
        for ws in self.state.get_websockets() {
            let Some(mut sub) = ws.deserialize_attachment::<Subscriber>()? else {
                continue;
            };
            let before = sub.sent;
            for row in &parsed {
                if !sub.wants(row, &config.routes) {
                    continue;
                }
                if sub.unacked() >= config.tail_max_unacked {
                    // Cut off rather than buffer without bound; it may resume with `last_id`.
                    let reason = format!(
                        "slow consumer: {} messages not acknowledged (TAIL_MAX_UNACKED is {})",
                        sub.unacked(),
                        config.tail_max_unacked
                    );
                    let _ = ws.close(Some(SLOW_CONSUMER), Some(reason));
                    break;
                }
                sub.sent += 1;
                if ws.send_with_str(log_message(sub.sent, row)).is_err() {
                    break;
                }
            }
            if sub.sent != before {
                ws.serialize_attachment(&sub)?;
            }
        }
        Ok(())
    }

    /// The buffered rows after entry `id`, oldest first, and whether some may be missing (the
    /// entry is no longer, or never was, in the buffer: everything buffered is returned).
    fn since(&self, id: &str) -> Result<(Vec<Recent>, bool)> {
        let sql = self.state.storage().sql();
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        let at: Vec<Seq> = sql
            .exec(
                "SELECT seq FROM recent WHERE id = ?1 ORDER BY seq DESC LIMIT 1",
                vec![SqlStorageValue::from(id)],
            )?
            .to_array()?;
        let (from, gap) = match at.first() {
            Some(s) => (s.seq, false),
            None => (0, true),
        };
        let rows: Vec<Recent> = sql
            .exec(
                "SELECT row FROM recent WHERE seq > ?1 ORDER BY seq",
                vec![SqlStorageValue::from(from)],
            )?
            .to_array()?;
        Ok((rows, gap))
    }
}
