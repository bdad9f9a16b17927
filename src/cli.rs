//! The command line: parse the arguments into a [`Command`], run it, and
//! turn the outcome into an exit code (0 success, 1 the work failed, 2
//! usage or configuration error).
//!
//! Hand-written rather than clap: six commands and five flags do not earn a
//! dependency that would be a sizeable share of the Pi binary.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::actions::ActionRequest;
use crate::app::{App, VERSION};
use crate::config::{Config, Overrides};
use crate::error::{Error, Result};

const HELP: &str = "\
pitstop — keeps a self-hosted bot stack on a Raspberry Pi healthy

USAGE:
    pitstop serve  [--config FILE] [--listen ADDR]   serve the API and the widget
    pitstop status [--config FILE] [--json]          services and RQ job counts
    pitstop stop   [--config FILE] [--json]          the emergency stop
    pitstop run ACTION [--service NAME] [--config FILE] [--json]
                                                     run one action here, with its
                                                     log and progress as they come
    pitstop check  [--config FILE]                   validate the configuration and
                                                     load every plugin against its grants
    pitstop --help | --version

OPTIONS:
    --config FILE   the configuration (default: ./actions.toml); relative
                    paths inside it are relative to its folder
    --listen ADDR   address to serve on, e.g. 127.0.0.1:8000 (port 0 picks
                    a free port); overrides PITSTOP_LISTEN and the file
    --service NAME  the service a deploy action acts on
    --json          print the result as JSON instead of text

ENVIRONMENT:
    API_KEY         the key clients send as X-API-Key (the variable's name
                    is [server] api_key_env); required to listen beyond
                    loopback: 16 characters or more
    REDIS_URL       overrides [redis] url
    PITSTOP_LISTEN  overrides [server] listen
    PITSTOP_LOG     log level: off, error, warn, info (default), debug, trace

EXIT CODES:
    0 success   1 the action, stop or check failed (or a service is down,
    for `status`)   2 usage or configuration error
";

#[derive(Debug, PartialEq)]
pub enum Command {
    Serve {
        config: PathBuf,
        listen: Option<String>,
    },
    Status {
        config: PathBuf,
        json: bool,
    },
    Stop {
        config: PathBuf,
        json: bool,
    },
    Run {
        config: PathBuf,
        action: String,
        service: Option<String>,
        json: bool,
    },
    Check {
        config: PathBuf,
    },
    Help,
    Version,
}

/// Runs the command line and returns the process exit code.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let outcome = parse(args).and_then(run);
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let _ = std::io::stdout().flush();
            eprintln!("pitstop: {err}");
            if matches!(err, Error::Usage(_)) {
                eprintln!("run `pitstop --help` for usage");
            }
            ExitCode::from(err.exit_code())
        }
    }
}

pub fn parse(args: Vec<OsString>) -> Result<Command> {
    let mut args = args.into_iter().map(|a| {
        a.into_string().map_err(|a| {
            Error::Usage(format!(
                "argument `{}` is not valid UTF-8",
                a.to_string_lossy()
            ))
        })
    });
    let command = match args.next().transpose()? {
        None => return Err(Error::Usage("no command given".into())),
        Some(c) => c,
    };
    if matches!(command.as_str(), "--help" | "-h" | "help") {
        return Ok(Command::Help);
    }
    if matches!(command.as_str(), "--version" | "-V" | "version") {
        return Ok(Command::Version);
    }
    let mut config = PathBuf::from("actions.toml");
    let (mut listen, mut service, mut json, mut positional) = (None, None, false, Vec::new());
    while let Some(arg) = args.next().transpose()? {
        let mut value = |flag: &str| {
            args.next()
                .transpose()?
                .ok_or_else(|| Error::Usage(format!("`{flag}` needs a value")))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--config" | "-c" => config = PathBuf::from(value("--config")?),
            "--listen" if command == "serve" => listen = Some(value("--listen")?),
            "--service" if command == "run" => service = Some(value("--service")?),
            "--json" if matches!(command.as_str(), "status" | "stop" | "run") => json = true,
            flag if flag.starts_with('-') => {
                return Err(Error::Usage(format!("`{command}` has no option `{flag}`")));
            }
            _ => positional.push(arg),
        }
    }
    let no_extra = |positional: &[String]| match positional.first() {
        Some(extra) => Err(Error::Usage(format!("unexpected argument `{extra}`"))),
        None => Ok(()),
    };
    match command.as_str() {
        "serve" => no_extra(&positional).map(|()| Command::Serve { config, listen }),
        "status" => no_extra(&positional).map(|()| Command::Status { config, json }),
        "stop" => no_extra(&positional).map(|()| Command::Stop { config, json }),
        "check" => no_extra(&positional).map(|()| Command::Check { config }),
        "run" => {
            let mut positional = positional.into_iter();
            let action = positional
                .next()
                .ok_or_else(|| Error::Usage("`run` needs an ACTION".into()))?;
            no_extra(&positional.collect::<Vec<_>>())?;
            Ok(Command::Run {
                config,
                action,
                service,
                json,
            })
        }
        other => Err(Error::Usage(format!("unknown command `{other}`"))),
    }
}

fn run(command: Command) -> Result<u8> {
    match command {
        Command::Help => {
            print!("{HELP}");
            Ok(0)
        }
        Command::Version => {
            println!("pitstop {VERSION}");
            Ok(0)
        }
        Command::Check { config } => {
            let config = load(&config, Overrides::default())?;
            config.check_exposure()?;
            println!(
                "{}: ok: listen {}, redis {} queue `{}`, {} service(s), {} action(s)",
                config.path.display(),
                config.listen,
                config.redis.url,
                config.redis.queue,
                config.services.len(),
                config.actions.len()
            );
            if config.actions.is_empty() {
                return Ok(0);
            }
            let host = crate::plugin::shared(&config.cache_dir).map_err(Error::Internal)?;
            let mut failed = 0;
            for spec in &config.actions {
                let problems: Vec<String> = match host.imports(spec) {
                    Ok(imports) => imports
                        .iter()
                        .filter_map(|i| spec.grants.serves(i).err())
                        .collect(),
                    Err(failure) => vec![failure.describe(&spec.name)],
                };
                for grant in spec.grants.files.iter().filter(|f| !f.path.is_dir()) {
                    println!(
                        "  warning: action `{}`: granted folder `{}` does not exist (yet)",
                        spec.name,
                        grant.path.display()
                    );
                }
                if problems.is_empty() {
                    println!(
                        "  {}: ok ({}, plugin {})",
                        spec.name,
                        spec.kind.as_str(),
                        spec.plugin.display()
                    );
                } else {
                    failed += 1;
                    for problem in problems {
                        println!("  {}: FAILED: {problem}", spec.name);
                    }
                }
            }
            Ok(if failed == 0 { 0 } else { 1 })
        }
        Command::Serve { config, listen } => {
            let config = load(&config, Overrides { listen })?;
            init_logging(config.log_level);
            config.check_exposure()?;
            if config.api_key.is_none() {
                log::warn!(
                    "`{}` is not set: every endpoint but /health and the widget answers 401 until it is",
                    config.api_key_env
                );
            }
            let listen = config.listen;
            let app = Arc::new(App::new(config)?);
            log::info!("state database: {}", app.store.path().display());
            let warm = Arc::clone(&app);
            crate::http::serve(app, listen, move |addr| {
                log::info!("pitstop {VERSION} listening on http://{addr}");
                println!("listening on http://{addr}");
                let _ = std::io::stdout().flush();
                // Plugins compile after /health answers, never before.
                let _ = std::thread::Builder::new()
                    .name("warm-plugins".into())
                    .spawn(move || warm.warm_plugins());
            })?;
            Ok(0)
        }
        Command::Status { config, json } => {
            let app = cli_app(&config)?;
            let services = app.services();
            let jobs = app.rq.counts();
            let healthy = jobs.is_ok() && services.iter().all(|s| s.status == "running");
            if json {
                let jobs = match &jobs {
                    Ok(counts) => serde_json::json!({"counts": counts, "total": counts.total()}),
                    Err(err) => serde_json::json!({"error": err.to_string()}),
                };
                println!(
                    "{}",
                    serde_json::json!({"services": services, "jobs": jobs})
                );
            } else {
                for s in &services {
                    println!(
                        "{:<20} {:<8} up {:<8} {}",
                        s.name, s.status, s.uptime, s.detail
                    );
                }
                match &jobs {
                    Ok(c) => println!(
                        "jobs: {} queued, {} started, {} finished, {} failed, {} canceled, {} deferred, {} scheduled",
                        c.queued,
                        c.started,
                        c.finished,
                        c.failed,
                        c.canceled,
                        c.deferred,
                        c.scheduled
                    ),
                    Err(err) => println!("jobs: unavailable: {err}"),
                }
            }
            Ok(if healthy { 0 } else { 1 })
        }
        Command::Stop { config, json } => {
            let app = cli_app(&config)?;
            let report = app.emergency_stop("cli")?;
            let complete = report.status == "success";
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!("queued jobs removed:      {}", report.queued_removed);
                println!("running jobs told to stop: {}", report.stop_requested);
                println!("confirmed stopped:        {}", report.stopped_confirmed);
                println!("could not be reached:     {}", report.stop_undeliverable);
                println!("abandoned (dead worker):  {}", report.abandoned);
                for job in &report.jobs {
                    println!(
                        "  {} on {}: {}",
                        job.id,
                        job.worker.as_deref().unwrap_or("no worker"),
                        job.outcome
                    );
                }
            }
            Ok(if complete { 0 } else { 1 })
        }
        Command::Run {
            config,
            action,
            service,
            json,
        } => {
            let app = Arc::new(cli_app(&config)?);
            let kind = app
                .actions
                .find(&action)
                .map(|s| s.kind)
                .ok_or_else(|| Error::UnknownAction(action.clone()))?;
            let request = ActionRequest { action, service };
            let run = app.start_action(kind, &request, "cli")?;
            // Live output: log lines and progress as they come.
            let (mut shown, mut step) = (0, String::new());
            let result = loop {
                let done = run.wait_timeout(std::time::Duration::from_millis(100));
                if !json {
                    let snapshot = run.snapshot();
                    if !snapshot.step.is_empty() && snapshot.step != step {
                        step = snapshot.step.clone();
                        println!("[{:>3}%] {step}", snapshot.progress);
                    }
                    for line in run.lines_from(shown) {
                        shown += 1;
                        println!(
                            "{:>7.1}s {:<5} {}",
                            line.at_ms as f64 / 1000.0,
                            line.level,
                            line.message
                        );
                    }
                }
                if let Some(result) = done {
                    break result;
                }
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({"run_id": run.id, "action": run.action, "result": result})
                );
            } else {
                println!("{}: {}", result.status, result.message);
                if result.details.as_object().is_some_and(|d| !d.is_empty()) {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&result.details).unwrap_or_default()
                    );
                }
            }
            Ok(if result.status == "success" { 0 } else { 1 })
        }
    }
}

fn load(path: &std::path::Path, overrides: Overrides) -> Result<Config> {
    Config::load(path, &overrides, &|name| std::env::var(name).ok())
}

/// The app for a one-shot command: logs only warnings unless `PITSTOP_LOG`
/// asks for more, so the output stays the command's own.
fn cli_app(path: &std::path::Path) -> Result<App> {
    let config = load(path, Overrides::default())?;
    let level = if std::env::var_os("PITSTOP_LOG").is_some() {
        config.log_level
    } else {
        log::LevelFilter::Warn
    };
    init_logging(level);
    App::new(config)
}

fn init_logging(level: log::LevelFilter) {
    let config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .build();
    let _ = simplelog::WriteLogger::init(level, config, std::io::stderr());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn parses_commands() {
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
        assert_eq!(p(&["serve", "--help"]).unwrap(), Command::Help);
        assert_eq!(p(&["--version"]).unwrap(), Command::Version);
        assert_eq!(
            p(&["serve", "--config", "x.toml", "--listen", "127.0.0.1:0"]).unwrap(),
            Command::Serve {
                config: "x.toml".into(),
                listen: Some("127.0.0.1:0".into())
            }
        );
        assert_eq!(
            p(&["run", "pull", "--service", "api", "--json"]).unwrap(),
            Command::Run {
                config: "actions.toml".into(),
                action: "pull".into(),
                service: Some("api".into()),
                json: true
            }
        );
        assert_eq!(
            p(&["status", "--json"]).unwrap(),
            Command::Status {
                config: "actions.toml".into(),
                json: true
            }
        );
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["fly"],
            &["serve", "--json"],
            &["run"],
            &["stop", "extra"],
            &["serve", "--listen"],
        ] {
            let err = p(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }
}
