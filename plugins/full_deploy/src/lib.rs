//! `full_deploy`: backup, pull, rebuild, restart, health check, and an
//! automatic rollback to the previous commit (rebuilt and restarted again)
//! when the stack is not healthy. Every step is logged and reported.
//!
//! config: `compose` (default `["docker", "compose"]`), `backup` (default
//! true; needs `grants.sqlite` with `backups`), `keep_backups` (default 3),
//! `health_timeout` seconds (default 60), `services` (names that must be
//! running; default all).
//! grants: `commands` (git, and compose `build` and `up -d`),
//! `services = true`, and `sqlite` for the backup.

use std::time::{Duration, Instant};

use pitstop_sdk::deploy::{Pulled, compose, pull, roll_back, short};
use pitstop_sdk::{
    Report, Request, Result, Value, action, error, info, json, progress, services, sqlite, warn,
};

/// The steps done so far, each with its outcome and duration.
#[derive(Default)]
struct Steps(Vec<Value>);

impl Steps {
    fn run<T>(&mut self, name: &str, work: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
        let started = Instant::now();
        let outcome = work();
        let (status, detail) = match &outcome {
            Ok((_, detail)) => ("ok", detail.clone()),
            Err(e) => ("failed", e.clone()),
        };
        let line = format!("{name}: {detail}");
        if status == "ok" {
            info(&line)
        } else {
            error(&line)
        }
        self.0.push(json!({"step": name, "status": status, "duration_ms": started.elapsed().as_millis() as u64, "detail": detail}));
        outcome.map(|(value, _)| value)
    }
}

fn run(req: &Request) -> Result<Report> {
    let mut steps = Steps::default();
    if req.bool_or("backup", true)? {
        progress(5, "backup");
        let keep = req.u64_or("keep_backups", 3)? as u32;
        steps.run("backup", || sqlite::backup(keep).map(|name| ((), name)))?;
    }
    progress(15, "pull");
    let pulled: Pulled = steps.run("pull", || {
        pull().map(|p| {
            let d = format!(
                "{} -> {}{}",
                short(&p.old_commit),
                short(&p.new_commit),
                if p.stashed {
                    " (local changes stashed)"
                } else {
                    ""
                }
            );
            (p, d)
        })
    })?;

    if deploy_and_check(req, &mut steps, 30)? {
        return Ok(Report::new(format!(
            "deployed {} and healthy",
            short(&pulled.new_commit)
        ))
        .detail("old_commit", pulled.old_commit)
        .detail("new_commit", pulled.new_commit)
        .detail("stashed", pulled.stashed)
        .detail("rolled_back", false)
        .detail("steps", Value::Array(steps.0))
        .output(pulled.output));
    }
    // Unhealthy: go back to the previous commit, if the pull brought one.
    if pulled.old_commit == pulled.new_commit {
        return Err("the stack is not healthy after the deploy, and there was no new commit to roll back from".into());
    }
    warn(&format!("rolling back to {}", short(&pulled.old_commit)));
    progress(70, "rollback");
    steps.run("rollback", || {
        roll_back(&pulled.old_commit)
            .map(|()| ((), format!("back at {}", short(&pulled.old_commit))))
    })?;
    let healthy_again = deploy_and_check(req, &mut steps, 75)?;
    Err(format!(
        "deploy of {} failed its health check and was rolled back to {} ({})",
        short(&pulled.new_commit),
        short(&pulled.old_commit),
        if healthy_again {
            "healthy again"
        } else {
            "STILL NOT HEALTHY: look at it now"
        }
    ))
}

/// Rebuild, restart, then wait for the services to be running. `Ok(false)`
/// when they are not healthy in time.
fn deploy_and_check(req: &Request, steps: &mut Steps, base: u8) -> Result<bool> {
    progress(base, "rebuild");
    steps.run("rebuild", || {
        compose(req, &["build"]).map(|_| ((), "images built".to_string()))
    })?;
    progress(base + 10, "restart");
    steps.run("restart", || {
        compose(req, &["up", "-d"]).map(|_| ((), "containers up".to_string()))
    })?;
    progress(base + 20, "health check");
    let healthy = wait_healthy(req)?;
    let detail = if healthy {
        "all running"
    } else {
        "not healthy in time"
    };
    let _ = steps.run("health check", || {
        if healthy {
            Ok(((), detail.to_string()))
        } else {
            Err(detail.to_string())
        }
    });
    Ok(healthy)
}

fn wait_healthy(req: &Request) -> Result<bool> {
    let limit = Duration::from_secs(req.u64_or("health_timeout", 60)?);
    let wanted: Option<Vec<String>> = match req.config.get("services") {
        None => None,
        Some(_) => Some(req.strings("services")?),
    };
    let started = Instant::now();
    loop {
        let statuses = services::status()?;
        let down: Vec<String> = statuses
            .iter()
            .filter(|s| wanted.as_ref().is_none_or(|w| w.contains(&s.name)))
            .filter(|s| s.status != "running")
            .map(|s| format!("{} ({})", s.name, s.detail))
            .collect();
        if down.is_empty() {
            return Ok(true);
        }
        if started.elapsed() >= limit {
            warn(&format!("not running: {}", down.join(", ")));
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

action!(run);
