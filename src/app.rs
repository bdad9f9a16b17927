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

use crate::actions::{ActionKind, ActionRequest, Actions, Cause, RunLog, RunResult};
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
        let actions = Actions::new(config.actions.clone());
        Ok(App {
            config,
            rq,
            store,
            actions,
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
                let status = report.status;
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

    /// Starts a run of the declared action of `kind`: validates the
    /// request, refuses a second concurrent run of the same action (409),
    /// and runs the plugin on its own thread. The run is recorded in the
    /// history when it ends, whoever waits for it.
    pub fn start_action(
        self: &Arc<App>,
        kind: ActionKind,
        request: &ActionRequest,
        client: &str,
    ) -> Result<Arc<RunLog>> {
        let (spec, params) = self.actions.validate(kind, request)?;
        let run = Arc::new(RunLog::new(
            new_run_id(),
            &spec.name,
            kind,
            request.service.clone(),
            client,
        ));
        self.actions.claim(&spec.name, &run.id)?;
        self.actions.remember(Arc::clone(&run));
        let (app, spec, thread_run) = (Arc::clone(self), spec.clone(), Arc::clone(&run));
        let spawned = std::thread::Builder::new()
            .name(format!("action {}", spec.name))
            .spawn(move || {
                let run = thread_run;
                let input = serde_json::json!({
                    "action": spec.name,
                    "config": spec.config,
                    "params": params,
                    "base_dir": app.config.dir,
                })
                .to_string();
                let ctx = crate::plugin::RunContext {
                    rq: Arc::clone(&app.rq),
                    redis_url: app.config.redis.url.clone(),
                    services: app.config.services.clone(),
                    log: Arc::clone(&run),
                };
                let outcome = crate::plugin::shared(&app.config.cache_dir)
                    .map_err(|e| {
                        crate::actions::Failure::new(crate::actions::Phase::Load, Cause::Plugin, e)
                    })
                    .and_then(|host| {
                        // A panic in the host must end this run, not leave it
                        // "running" forever with its action claimed.
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            host.run(&spec, &input, params.clone(), ctx)
                        }))
                        .unwrap_or_else(|_| {
                            Err(crate::actions::Failure::new(
                                crate::actions::Phase::HostCall,
                                Cause::Trap,
                                "pitstop's plugin host crashed; see its log".into(),
                            ))
                        })
                    });
                let duration_ms = run.elapsed_ms();
                let result = match outcome {
                    Ok(report) => {
                        let report: serde_json::Value = serde_json::from_str(&report)
                            .unwrap_or_else(|_| serde_json::json!({"message": report}));
                        RunResult {
                            status: "success",
                            message: report["message"].as_str().unwrap_or("done").to_string(),
                            details: report
                                .get("details")
                                .cloned()
                                .unwrap_or_else(|| serde_json::json!({})),
                            output: report["output"].as_str().map(str::to_string),
                            phase: None,
                            cause: None,
                            duration_ms,
                        }
                    }
                    Err(failure) => {
                        let message = failure.describe(&spec.name);
                        run.line("error", &message);
                        RunResult {
                            status: if failure.cause == Cause::Timeout {
                                "timeout"
                            } else {
                                "error"
                            },
                            message,
                            details: match &failure.cause {
                                Cause::Denied(denied) => serde_json::json!({"denied": denied.trim_start_matches("denied: ")}),
                                _ => serde_json::json!({}),
                            },
                            output: None,
                            phase: Some(failure.phase),
                            cause: Some(failure.cause.as_str()),
                            duration_ms,
                        }
                    }
                };
                log::info!(
                    "action `{}` by {}: {}: {}",
                    spec.name,
                    run.client,
                    result.status,
                    result.message
                );
                app.record(RunRecord {
                    id: run.id.clone(),
                    action: spec.name.clone(),
                    kind: kind.as_str().to_string(),
                    service: run.service.clone(),
                    client: run.client.clone(),
                    started_at: run.started_at.clone(),
                    duration_ms,
                    status: result.status.to_string(),
                    message: result.message.clone(),
                    details: serde_json::to_value(&result).ok(),
                });
                app.actions.release(&spec.name);
                run.finish(result);
            });
        if let Err(err) = spawned {
            self.actions.release(&request.action);
            return Err(Error::Internal(format!(
                "cannot start a thread for the run: {err}"
            )));
        }
        Ok(run)
    }

    /// Compiles every declared plugin ahead of its first run (in the
    /// background after `serve` starts listening), so problems show in the
    /// log early and the first run is not slowed by compilation.
    pub fn warm_plugins(&self) {
        let host = match crate::plugin::shared(&self.config.cache_dir) {
            Ok(host) => host,
            Err(err) => return log::error!("{err}"),
        };
        for spec in self.actions.specs() {
            match host.prepare(spec) {
                Ok(_) => log::debug!("plugin of `{}` ready", spec.name),
                Err(failure) => log::error!("{}", failure.describe(&spec.name)),
            }
        }
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
