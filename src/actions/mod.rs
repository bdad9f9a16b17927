//! Maintenance and deploy actions: their declarations (`spec.rs`), what
//! they may touch (`grants.rs`), and the live record of each run that the
//! API, the command line and the history read.
//!
//! A run goes: request → [`Actions::validate`] (known name of the right
//! kind, parameters among the declared values) → one thread running the
//! plugin (`crate::plugin`) while [`RunLog`] collects its log and progress
//! → a [`RunResult`] recorded in the history. `App::start_action` (in
//! `app.rs`) ties these together; it is the one path every run takes.

pub mod grants;
pub mod spec;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::clock::now_iso;
use crate::error::{Error, Result};
use spec::ActionSpec;

/// Which endpoint an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Maintenance,
    Deploy,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Maintenance => "maintenance",
            ActionKind::Deploy => "deploy",
        }
    }
}

/// A request to run an action, from the API body or the command line.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub action: String,
    pub service: Option<String>,
}

/// Where a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Load,
    Compile,
    Instantiate,
    Run,
    HostCall,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Load => "load",
            Phase::Compile => "compile",
            Phase::Instantiate => "instantiate",
            Phase::Run => "run",
            Phase::HostCall => "host call",
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Timeout,
    Memory,
    Output,
    /// A host call was refused; the text names the missing grant.
    Denied(String),
    Trap,
    /// The plugin returned an error of its own (or could not be loaded).
    Plugin,
}

impl Cause {
    pub fn as_str(&self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::Memory => "memory",
            Cause::Output => "output",
            Cause::Denied(_) => "denied",
            Cause::Trap => "trap",
            Cause::Plugin => "plugin error",
        }
    }
}

/// A failed run: phase, cause and the message for the person who ran it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub phase: Phase,
    pub cause: Cause,
    pub message: String,
}

impl Failure {
    pub fn new(phase: Phase, cause: Cause, message: String) -> Failure {
        Failure {
            phase,
            cause,
            message,
        }
    }

    /// `action `x` failed in phase run (timeout): …`; for a refusal,
    /// `action `x` failed in phase host call: denied: <the grant>`.
    pub fn describe(&self, action: &str) -> String {
        let phase = self.phase.as_str();
        match &self.cause {
            Cause::Denied(denied) if self.message.contains(denied.as_str()) => {
                format!(
                    "action `{action}` failed in phase {phase}: {}",
                    self.message
                )
            }
            Cause::Denied(denied) => {
                format!(
                    "action `{action}` failed in phase {phase} ({denied}): {}",
                    self.message
                )
            }
            other => format!(
                "action `{action}` failed in phase {phase} ({}): {}",
                other.as_str(),
                self.message
            ),
        }
    }
}

/// The outcome of a finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// `success`, `error` or `timeout`.
    pub status: &'static str,
    pub message: String,
    pub details: serde_json::Value,
    /// Text output (a deploy's command output), when the plugin gave one.
    pub output: Option<String>,
    pub phase: Option<Phase>,
    pub cause: Option<&'static str>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub level: String,
    pub message: String,
}

/// Lines kept per run in memory (the plugin's output limit applies too).
const MAX_LINES: usize = 1000;

/// One run, live: what `GET /deployment/runs/{id}` and `pitstop run` show
/// while it runs, and its result once done.
pub struct RunLog {
    pub id: String,
    pub action: String,
    pub kind: ActionKind,
    pub service: Option<String>,
    pub client: String,
    pub started_at: String,
    started: Instant,
    inner: Mutex<RunInner>,
    done: Condvar,
}

#[derive(Default)]
struct RunInner {
    progress: u8,
    step: String,
    lines: Vec<LogLine>,
    dropped: usize,
    result: Option<RunResult>,
}

/// What a reader of a run sees at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct RunSnapshot {
    pub id: String,
    pub action: String,
    pub kind: ActionKind,
    pub service: Option<String>,
    pub client: String,
    pub started_at: String,
    /// `running`, then the result's status.
    pub status: &'static str,
    pub progress: u8,
    pub step: String,
    pub log: Vec<LogLine>,
    pub log_dropped: usize,
    pub result: Option<RunResult>,
}

impl RunLog {
    pub fn new(
        id: String,
        action: &str,
        kind: ActionKind,
        service: Option<String>,
        client: &str,
    ) -> RunLog {
        RunLog {
            id,
            action: action.to_string(),
            kind,
            service,
            client: client.to_string(),
            started_at: now_iso(),
            started: Instant::now(),
            inner: Mutex::new(RunInner::default()),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunInner> {
        crate::lock(&self.inner)
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn line(&self, level: &str, message: &str) {
        let at_ms = self.elapsed_ms();
        let mut inner = self.lock();
        if inner.lines.len() < MAX_LINES {
            inner.lines.push(LogLine {
                at_ms,
                level: level.to_string(),
                message: message.to_string(),
            });
        } else {
            inner.dropped += 1;
        }
    }

    pub fn progress(&self, percent: u8, step: &str) {
        let mut inner = self.lock();
        inner.progress = percent;
        inner.step = step.to_string();
    }

    pub fn finish(&self, result: RunResult) {
        let mut inner = self.lock();
        if result.status == "success" {
            inner.progress = 100;
        }
        inner.result = Some(result);
        self.done.notify_all();
    }

    /// Blocks until the run is done.
    pub fn wait(&self) -> RunResult {
        let mut inner = self.lock();
        loop {
            if let Some(result) = &inner.result {
                return result.clone();
            }
            inner = self.done.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits up to `timeout` for the result; `None` while still running.
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> Option<RunResult> {
        let inner = self.lock();
        let (inner, _) = self
            .done
            .wait_timeout_while(inner, timeout, |i| i.result.is_none())
            .unwrap_or_else(|p| p.into_inner());
        inner.result.clone()
    }

    /// Log lines from index `from` on, for a live reader.
    pub fn lines_from(&self, from: usize) -> Vec<LogLine> {
        self.lock()
            .lines
            .get(from..)
            .map(<[LogLine]>::to_vec)
            .unwrap_or_default()
    }

    pub fn snapshot(&self) -> RunSnapshot {
        let inner = self.lock();
        RunSnapshot {
            id: self.id.clone(),
            action: self.action.clone(),
            kind: self.kind,
            service: self.service.clone(),
            client: self.client.clone(),
            started_at: self.started_at.clone(),
            status: inner.result.as_ref().map_or("running", |r| r.status),
            progress: inner.progress,
            step: inner.step.clone(),
            log: inner.lines.clone(),
            log_dropped: inner.dropped,
            result: inner.result.clone(),
        }
    }
}

/// One declared action as `/deployment/actions` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionInfo {
    pub name: String,
    pub kind: ActionKind,
    pub description: String,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub timeout_ms: u64,
    pub grants: serde_json::Value,
}

/// Runs kept in memory for `GET /deployment/runs/{id}` (older ones are
/// read from the history).
const RECENT_RUNS: usize = 200;

/// The declared actions and the runs in flight.
pub struct Actions {
    specs: Vec<ActionSpec>,
    /// Action name → id of its run in progress (one at a time per action).
    running: Mutex<HashMap<String, String>>,
    recent: Mutex<VecDeque<Arc<RunLog>>>,
}

impl Actions {
    pub fn new(specs: Vec<ActionSpec>) -> Actions {
        Actions {
            specs,
            running: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    pub fn specs(&self) -> &[ActionSpec] {
        &self.specs
    }

    pub fn find(&self, name: &str) -> Option<&ActionSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    pub fn list(&self) -> Vec<ActionInfo> {
        self.specs
            .iter()
            .map(|s| ActionInfo {
                name: s.name.clone(),
                kind: s.kind,
                description: s.description.clone(),
                parameters: s.parameters.clone(),
                timeout_ms: s.timeout.as_millis() as u64,
                grants: describe_grants(s),
            })
            .collect()
    }

    /// The action `name` of `kind` with the request's parameters checked
    /// against the declared values. An action of the other kind is as
    /// unknown here as a name never declared.
    pub fn validate(
        &self,
        kind: ActionKind,
        request: &ActionRequest,
    ) -> Result<(&ActionSpec, BTreeMap<String, String>)> {
        let spec = self
            .specs
            .iter()
            .find(|s| s.kind == kind && s.name == request.action)
            .ok_or_else(|| Error::UnknownAction(request.action.clone()))?;
        let mut params = BTreeMap::new();
        if let Some(service) = &request.service {
            let Some(allowed) = spec.parameters.get("service") else {
                return Err(Error::Invalid(format!(
                    "action `{}` takes no `service`",
                    spec.name
                )));
            };
            if !allowed.contains(service) {
                return Err(Error::Invalid(format!(
                    "`service` must be one of: {}",
                    allowed.join(", ")
                )));
            }
            params.insert("service".to_string(), service.clone());
        }
        Ok((spec, params))
    }

    /// Marks `action` as running under `run_id`, or answers 409.
    pub fn claim(&self, action: &str, run_id: &str) -> Result<()> {
        let mut running = crate::lock(&self.running);
        if let Some(existing) = running.get(action) {
            return Err(Error::Conflict(format!(
                "action `{action}` is already running (run `{existing}`)"
            )));
        }
        running.insert(action.to_string(), run_id.to_string());
        Ok(())
    }

    pub fn release(&self, action: &str) {
        crate::lock(&self.running).remove(action);
    }

    pub fn remember(&self, run: Arc<RunLog>) {
        let mut recent = crate::lock(&self.recent);
        if recent.len() >= RECENT_RUNS {
            recent.pop_front();
        }
        recent.push_back(run);
    }

    pub fn recent(&self, id: &str) -> Option<Arc<RunLog>> {
        crate::lock(&self.recent)
            .iter()
            .find(|r| r.id == id)
            .cloned()
    }
}

/// The grants as the API shows them (paths and patterns, no secrets: the
/// environment given to programs is listed by name only).
fn describe_grants(spec: &ActionSpec) -> serde_json::Value {
    let g = &spec.grants;
    serde_json::json!({
        "files": g.files.iter().map(|f| serde_json::json!({
            "path": f.path, "access": if f.write { "read-write" } else { "read-only" }
        })).collect::<Vec<_>>(),
        "redis": g.redis.as_ref().map(|r| serde_json::json!({"commands": r.commands, "keys": r.keys})),
        "sqlite": g.sqlite.as_ref().map(|s| serde_json::json!({"path": s.path, "write": s.write, "backups": s.backups})),
        "commands": g.commands,
        "command_env": spec.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "http": g.http,
        "services": g.services,
    })
}
