//! The pitstop plugin SDK: write an action as one function from a
//! [`Request`] to a [`Report`], and call [`action!`] with it.
//!
//! ```ignore
//! use pitstop_sdk::{action, Report, Request, Result};
//!
//! fn run(req: &Request) -> Result<Report> {
//!     let n = pitstop_sdk::redis::command(&["LLEN", "rq:queue:default"])?;
//!     Ok(Report::new(format!("{n} jobs queued")).detail("queued", n))
//! }
//! action!(run);
//! ```
//!
//! Everything here is a thin layer over the WIT world in `plugins/wit`:
//! each host call is checked by pitstop against the action's grants, and a
//! refusal comes back as an `Err` naming the missing grant.

use std::path::PathBuf;

pub use serde_json::{self, Value, json};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "action",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "pitstop_sdk::bindings",
    });
}

use bindings::pitstop::action as wit;

/// Errors are the message shown to the person who ran the action.
pub type Result<T, E = String> = std::result::Result<T, E>;

/// Exports `run` as the plugin's entry point.
#[macro_export]
macro_rules! action {
    ($run:path) => {
        struct __PitstopAction;
        impl $crate::bindings::Guest for __PitstopAction {
            fn run(input: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::__dispatch(&input, $run)
            }
        }
        $crate::bindings::export!(__PitstopAction with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub fn __dispatch(input: &str, run: fn(&Request) -> Result<Report>) -> Result<String> {
    let value: Value =
        serde_json::from_str(input).map_err(|e| format!("bad request from the host: {e}"))?;
    let request = Request {
        action: value["action"].as_str().unwrap_or_default().to_string(),
        config: value.get("config").cloned().unwrap_or_else(|| json!({})),
        params: value.get("params").cloned().unwrap_or_else(|| json!({})),
        base_dir: PathBuf::from(value["base_dir"].as_str().unwrap_or("/")),
    };
    let report = run(&request)?;
    Ok(
        json!({"message": report.message, "details": report.details, "output": report.output})
            .to_string(),
    )
}

/// What the host hands a run.
pub struct Request {
    /// The action's name in `actions.toml`.
    pub action: String,
    /// The action's `config` table.
    pub config: Value,
    /// Request parameters (`service`), already checked against the
    /// declared values.
    pub params: Value,
    /// The folder of `actions.toml`; relative paths are relative to it.
    pub base_dir: PathBuf,
}

impl Request {
    fn missing(&self, key: &str, what: &str) -> String {
        format!("action `{}`: `config.{key}` must be {what}", self.action)
    }

    /// A required string setting.
    pub fn str(&self, key: &str) -> Result<String> {
        self.config[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.missing(key, "a string"))
    }

    /// An optional string setting.
    pub fn str_or(&self, key: &str, default: &str) -> Result<String> {
        match &self.config[key] {
            Value::Null => Ok(default.to_string()),
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.missing(key, "a string")),
        }
    }

    /// An optional whole-number setting.
    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64> {
        match &self.config[key] {
            Value::Null => Ok(default),
            v => v
                .as_u64()
                .ok_or_else(|| self.missing(key, "a whole number")),
        }
    }

    /// An optional true/false setting.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match &self.config[key] {
            Value::Null => Ok(default),
            v => v
                .as_bool()
                .ok_or_else(|| self.missing(key, "true or false")),
        }
    }

    /// A list of strings, e.g. a command's argument vector.
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        let list = self.config[key]
            .as_array()
            .ok_or_else(|| self.missing(key, "a list of strings"))?;
        list.iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.missing(key, "a list of strings"))
            })
            .collect()
    }

    /// A path setting, relative ones resolved against [`Request::base_dir`].
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        let text = self.str(key)?;
        let path = PathBuf::from(&text);
        Ok(if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        })
    }

    /// A request parameter (`service`), if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params[name].as_str()
    }
}

/// A finished action's report: the message people read, details for
/// programs, and for deploy actions the commands' output.
pub struct Report {
    pub message: String,
    pub details: Value,
    pub output: Option<String>,
}

impl Report {
    pub fn new(message: impl Into<String>) -> Report {
        Report {
            message: message.into(),
            details: json!({}),
            output: None,
        }
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Report {
        self.details[key] = value.into();
        self
    }

    pub fn output(mut self, text: impl Into<String>) -> Report {
        self.output = Some(text.into());
        self
    }
}

pub fn debug(message: &str) {
    wit::log::log(wit::log::Level::Debug, message);
}

pub fn info(message: &str) {
    wit::log::log(wit::log::Level::Info, message);
}

pub fn warn(message: &str) {
    wit::log::log(wit::log::Level::Warn, message);
}

pub fn error(message: &str) {
    wit::log::log(wit::log::Level::Error, message);
}

/// Shows where the run is: `percent` from 0 to 100 and what it does now.
pub fn progress(percent: u8, step: &str) {
    wit::log::progress(percent, step);
}

/// Redis, within `grants.redis`. Replies are JSON values.
pub mod redis {
    use super::{Result, Value, wit};

    pub fn command(args: &[&str]) -> Result<Value> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let reply = wit::redis::command(&args)?;
        serde_json::from_str(&reply).map_err(|e| e.to_string())
    }

    /// A command whose reply is a list of strings (`LRANGE`, `ZRANGE`,
    /// `SMEMBERS`…); anything else in the list is left out.
    pub fn strings(args: &[&str]) -> Result<Vec<String>> {
        let reply = command(args)?;
        Ok(reply
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Several commands in one round trip; `atomic` wraps them in
    /// MULTI/EXEC.
    pub fn pipeline(commands: &[Vec<String>], atomic: bool) -> Result<Vec<Value>> {
        let reply = wit::redis::pipeline(commands, atomic)?;
        serde_json::from_str(&reply).map_err(|e| e.to_string())
    }
}

/// RQ's keys, for actions that clean up after RQ.
pub mod rq {
    /// Every key RQ keeps for one job besides its registry entries: the
    /// hash, dependents, dependencies (RQ's double-colon key), results
    /// stream and executions.
    pub fn job_keys(prefix: &str, id: &str) -> [String; 5] {
        [
            format!("{prefix}:job:{id}"),
            format!("{prefix}:job:{id}:dependents"),
            format!("{prefix}:job::{id}:dependencies"),
            format!("{prefix}:results:{id}"),
            format!("{prefix}:executions:{id}"),
        ]
    }
}

/// The database of `grants.sqlite`.
pub mod sqlite {
    use super::{Result, Value, wit};

    pub fn execute(sql: &str, params: &[&str]) -> Result<u64> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        wit::sqlite::execute(sql, &params)
    }

    pub fn query(sql: &str, params: &[&str]) -> Result<Vec<Vec<Value>>> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let rows = wit::sqlite::query(sql, &params)?;
        serde_json::from_str(&rows).map_err(|e| e.to_string())
    }

    /// An online backup into the grant's `backups` folder; keeps the newest
    /// `keep`. Returns the new file's name.
    pub fn backup(keep: u32) -> Result<String> {
        wit::sqlite::backup(keep)
    }
}

/// Programs of `grants.commands` (exact argument vectors).
pub mod process {
    use super::{Result, wit};

    pub use wit::process::Output;

    pub fn run(argv: &[&str]) -> Result<Output> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        wit::process::run(&argv)
    }

    /// [`run`], and an error with the program's own words unless it exits 0.
    pub fn run_ok(argv: &[&str]) -> Result<Output> {
        let out = run(argv)?;
        if out.status == 0 {
            Ok(out)
        } else {
            let said = if out.stderr.trim().is_empty() {
                out.stdout.trim()
            } else {
                out.stderr.trim()
            };
            Err(format!(
                "`{}` failed (exit {}): {said}",
                argv.join(" "),
                out.status
            ))
        }
    }
}

/// HTTP to the origins of `grants.http`.
pub mod http {
    use super::{Result, wit};

    pub fn request(method: &str, url: &str, body: Option<&str>) -> Result<(u16, String)> {
        let r = wit::http::request(method, url, body)?;
        Ok((r.status, r.body))
    }

    pub fn get(url: &str) -> Result<(u16, String)> {
        request("GET", url, None)
    }
}

/// The service probes of `actions.toml` (`grants.services = true`).
pub mod services {
    use super::{Result, wit};

    pub use wit::services::Service;

    pub fn status() -> Result<Vec<Service>> {
        wit::services::status()
    }
}

/// File changes WASI cannot make safely (inside a read-write file grant).
pub mod files {
    use super::{Result, wit};

    pub use wit::files::Trimmed;

    /// Removes the start of a file up to `offset` (the first byte of a line
    /// to keep) while others may append to it.
    pub fn trim_front(path: &str, offset: u64) -> Result<Trimmed> {
        wit::files::trim_front(path, offset)
    }
}

/// Building blocks of the deploy actions (`pull`, `rebuild`, `restart`,
/// `full_deploy`): git in the action's working directory, and the compose
/// command from the action's config. Each runs only the exact argument
/// vectors listed in the plugin guide, which the action's
/// `grants.commands` must allow.
pub mod deploy {
    use super::{Request, Result, info, process};

    /// What `pull` did.
    pub struct Pulled {
        pub old_commit: String,
        pub new_commit: String,
        /// Local changes were saved with `git stash` first.
        pub stashed: bool,
        pub output: String,
    }

    pub const STASH_MESSAGE: &str = "pitstop: local changes saved before pull";

    pub fn head() -> Result<String> {
        Ok(process::run_ok(&["git", "rev-parse", "HEAD"])?
            .stdout
            .trim()
            .to_string())
    }

    /// `git pull --ff-only`, with local changes stashed first (never lost:
    /// `git stash list` shows them) and the old and new commits.
    pub fn pull() -> Result<Pulled> {
        let old_commit = head()?;
        let status = process::run_ok(&["git", "status", "--porcelain"])?;
        let stashed = !status.stdout.trim().is_empty();
        if stashed {
            info("local changes found: saving them with git stash");
            process::run_ok(&[
                "git",
                "stash",
                "push",
                "--include-untracked",
                "-m",
                STASH_MESSAGE,
            ])?;
        }
        let pulled = process::run_ok(&["git", "pull", "--ff-only"])?;
        let new_commit = head()?;
        let output = format!("{}{}", pulled.stdout, pulled.stderr)
            .trim()
            .to_string();
        info(&output);
        Ok(Pulled {
            old_commit,
            new_commit,
            stashed,
            output,
        })
    }

    /// Goes back to the commit before the last pull (`ORIG_HEAD`, which
    /// `git pull` sets), after checking it is `expected`.
    pub fn roll_back(expected: &str) -> Result<()> {
        let orig = process::run_ok(&["git", "rev-parse", "ORIG_HEAD"])?
            .stdout
            .trim()
            .to_string();
        if orig != expected {
            return Err(format!(
                "cannot roll back: ORIG_HEAD is {orig}, not the previous commit {expected}"
            ));
        }
        process::run_ok(&["git", "reset", "--hard", "ORIG_HEAD"])?;
        Ok(())
    }

    /// The compose command from `config.compose` (default `docker compose`)
    /// followed by `args` and the request's `service`, if any.
    pub fn compose(req: &Request, args: &[&str]) -> Result<String> {
        let mut argv = match req.config.get("compose") {
            None => vec!["docker".to_string(), "compose".to_string()],
            Some(_) => req.strings("compose")?,
        };
        argv.extend(args.iter().map(|a| a.to_string()));
        if let Some(service) = req.param("service") {
            argv.push(service.to_string());
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = process::run_ok(&argv)?;
        let text = format!("{}{}", out.stdout, out.stderr).trim().to_string();
        if !text.is_empty() {
            info(&text);
        }
        Ok(text)
    }

    pub fn short(commit: &str) -> &str {
        &commit[..commit.len().min(12)]
    }
}
