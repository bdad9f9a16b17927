//! The application: everything a request or a command needs, built once at
//! startup, and the operations that span several modules (the emergency
//! stop with its history record, an action run).
//!
//! `App` is shared by reference across the HTTP threads. Everything in it
//! is either immutable after startup or guards itself (the Redis pool, the
//! store's mutex, the metrics' counters).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::actions::{ActionKind, ActionRequest, Actions};
use crate::clock::{now_iso, now_unix};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::redis_pool::RedisPool;
use crate::rq::{Rq, StopReport};
use crate::services::{ServiceStatus, probe_all};
use crate::store::{RunRecord, Store};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct App {
    pub config: Config,
    pub rq: Arc<Rq>,
    pub store: Store,
    pub actions: Actions,
    pub metrics: Metrics,
    pub started: Instant,
}

impl App {
    /// Opens the state database and prepares the Redis pool. Does not
    /// connect to Redis: pitstop must start, and answer, without it.
    pub fn new(config: Config) -> Result<App> {
        let pool = RedisPool::new(&config.redis.url, config.redis.timeout)?;
        let rq = Arc::new(Rq::new(pool, &config.redis.queue, &config.redis.key_prefix));
        let store = Store::open(&config.state_db)?;
        Ok(App {
            config,
            rq,
            store,
            actions: Actions::default(),
            metrics: Metrics::default(),
            started: Instant::now(),
        })
    }

    pub fn services(&self) -> Vec<ServiceStatus> {
        probe_all(&self.config.services, &self.rq)
    }

    /// The emergency stop, recorded in the history like an action run,
    /// whether it succeeded or not.
    pub fn emergency_stop(&self, client: &str) -> Result<StopReport> {
        let started_at = now_iso();
        let clock = Instant::now();
        let result = self.rq.emergency_stop();
        let (status, message, details) = match &result {
            Ok(report) => {
                let complete = report.stop_undeliverable == 0
                    && report.stopped_confirmed == report.stop_requested;
                let status = if complete { "success" } else { "partial" };
                let message = format!(
                    "{} queued job(s) removed, {} running job(s) stopped ({} asked, {} unreachable, {} abandoned)",
                    report.queued_removed,
                    report.stopped_confirmed,
                    report.stop_requested,
                    report.stop_undeliverable,
                    report.abandoned
                );
                (status, message, serde_json::to_value(report).ok())
            }
            Err(err) => ("error", err.to_string(), None),
        };
        log::warn!("emergency stop by {client}: {status}: {message}");
        self.record(RunRecord {
            id: new_run_id(),
            action: "emergency_stop".to_string(),
            kind: "stop".to_string(),
            service: None,
            client: client.to_string(),
            started_at,
            duration_ms: clock.elapsed().as_millis() as u64,
            status: status.to_string(),
            message,
            details,
        });
        result
    }

    /// Runs a declared action of `kind`. Until plugins land there are none,
    /// so this answers `unknown action` for every name.
    pub fn run_action(
        &self,
        kind: ActionKind,
        request: &ActionRequest,
        _client: &str,
    ) -> Result<serde_json::Value> {
        let info = self.actions.lookup(kind, &request.action)?;
        Err(Error::Internal(format!(
            "action `{}` has no runner",
            info.name
        )))
    }

    /// Writes a history row. A failure to record (a locked or full disk)
    /// must not turn a run that happened into an error: it is logged.
    fn record(&self, run: RunRecord) {
        self.metrics.count_run(&run.action, &run.status);
        if let Err(err) = self.store.record(&run) {
            log::error!(
                "could not record run `{}` of `{}` in the history: {err}",
                run.id,
                run.action
            );
        }
    }
}

/// A run id that is unique on this machine and sorts by time:
/// milliseconds since the epoch, then a counter, both in hex.
pub fn new_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:011x}-{:04x}-{:x}",
        (now_unix() * 1000.0) as u64,
        n & 0xffff,
        std::process::id()
    )
}
