//! pitstop keeps a self-hosted bot stack on a Raspberry Pi healthy: it
//! shows what runs (services, RQ jobs in Redis), cleans up, deploys, and
//! stops everything at once when something goes wrong.
//!
//! # Layout
//!
//! - `cli`: the command line; parses, runs, maps errors to exit codes.
//! - `config`: `actions.toml` and the environment, parsed then validated.
//! - `app`: the shared [`app::App`] and the operations spanning modules.
//! - `http`: the server (thread pool, panics to 500), routes, handlers;
//!   the only module that knows HTTP and JSON envelopes.
//! - `rq`: RQ's layout in Redis, the job listing and the emergency stop;
//!   the only module that sends Redis commands.
//! - `redis_pool`: reusable, timeout-bounded Redis connections.
//! - `services`: parallel service probes with a timeout each.
//! - `store`: pitstop's own SQLite history; the only module with SQL.
//! - `actions`: declared actions, their grants (the sandbox policy) and
//!   the live record of each run.
//! - `plugin`: the wasmtime host that runs actions; the only module that
//!   knows wasmtime.
//! - `metrics`: counters and the Prometheus text format.
//! - `clock`: UTC timestamps, RQ's time text, durations.
//! - `error`: the one error type, its HTTP status and exit code.

pub mod actions;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod plugin;
pub mod redis_pool;
pub mod rq;
pub mod services;
pub mod store;

/// Takes a mutex even when a thread panicked while holding it. Every
/// value pitstop keeps behind a mutex stays valid between statements, and
/// a bug hit by one request must not turn every later request into a 500.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
