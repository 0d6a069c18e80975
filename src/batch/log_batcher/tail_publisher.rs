//! Shell: publishes acknowledged rows to the apps' `TailHub`s: one queue, drained by one task at
//! a time, so rows reach a hub in the order this shard acknowledged them. Whether an app has
//! tails is asked of its hub at most once per `tail::ACTIVE_CHECK_MS`; while the answer is no,
//! an ingest does nothing more than one map look-up.

use crate::platform::{now_ms, tail_hubs};
use crate::read::live_tail::ACTIVE_CHECK_MS;
use crate::read::tail_hub::protocol::HubStub;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use worker::{console_error, Env, State};

/// The queue of acknowledged rows on their way to the apps' TailHubs.
#[derive(Default)]
pub struct TailPublisher {
    queue: RefCell<VecDeque<(String, String)>>,
    draining: Cell<bool>,
    /// app → (has tails, when asked).
    active: RefCell<HashMap<String, (bool, f64)>>,
}

impl TailPublisher {
    /// Hands acknowledged rows to the app's live tail, unless the app is known to have none
    /// (then not even the rows' text is made).
    pub fn publish(
        self: &Rc<Self>,
        state: &State,
        env: &Env,
        app: String,
        rows: impl FnOnce() -> String,
    ) {
        if self.queue.borrow().is_empty() && self.known_idle(&app, now_ms() as f64) {
            return;
        }
        self.queue.borrow_mut().push_back((app, rows()));
        if !self.draining.replace(true) {
            state.wait_until(self.clone().drain(env.clone()));
        }
    }

    /// Whether `app` is known, recently, to have no tail.
    fn known_idle(&self, app: &str, now: f64) -> bool {
        self.active
            .borrow()
            .get(app)
            .is_some_and(|(active, at)| !active && now - at < ACTIVE_CHECK_MS)
    }

    async fn drain(self: Rc<Self>, env: Env) {
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some((app, rows)) = next else { break };
            let Ok(ns) = tail_hubs(&env) else { continue };
            let hub = HubStub::new(ns, &app);
            let now = now_ms() as f64;
            let known = self.active.borrow().get(&app).copied();
            let active = match known {
                Some((active, at)) if now - at < ACTIVE_CHECK_MS => active,
                _ => {
                    let active = hub.active().await.unwrap_or(false);
                    self.active
                        .borrow_mut()
                        .insert(app.clone(), (active, now_ms() as f64));
                    active
                }
            };
            if active {
                if let Err(e) = hub.publish(&rows).await {
                    console_error!("LogBatcher: publishing to the tail of {app} failed: {e}");
                }
            }
        }
        self.draining.set(false);
    }
}
