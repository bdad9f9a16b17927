//! Service probes: is Redis up, is an RQ worker alive, does the API answer.
//!
//! Probes run in parallel, one thread each, and the caller waits at most
//! for the longest probe timeout: a target that hangs is reported as an
//! error when its time is up, and never delays the others. A probe thread
//! that is still blocked then ends by itself at its own I/O timeout.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::clock::{human_duration, now_unix};
use crate::config::{Probe, ServiceSpec};
use crate::rq::Rq;

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    /// `running`, `stopped` or `error`, as the seed's widget expects.
    pub status: &'static str,
    /// Human text (`2h 13m`), or `N/A` when the probe cannot know.
    pub uptime: String,
    pub uptime_seconds: Option<u64>,
    /// What the probe saw, in a few words.
    pub detail: String,
}

impl ServiceStatus {
    fn new(
        name: &str,
        status: &'static str,
        uptime: Option<f64>,
        detail: impl Into<String>,
    ) -> ServiceStatus {
        ServiceStatus {
            name: name.to_string(),
            status,
            uptime: uptime.map_or_else(|| "N/A".to_string(), human_duration),
            uptime_seconds: uptime.map(|s| s.max(0.0) as u64),
            detail: detail.into(),
        }
    }
}

/// Probes every service in parallel, in declaration order.
pub fn probe_all(specs: &[ServiceSpec], rq: &Arc<Rq>) -> Vec<ServiceStatus> {
    let (tx, rx) = mpsc::channel();
    for (index, spec) in specs.iter().enumerate() {
        let (tx, spec, rq) = (tx.clone(), spec.clone(), Arc::clone(rq));
        std::thread::Builder::new()
            .name(format!("probe {}", spec.name))
            .spawn(move || {
                let _ = tx.send((index, probe(&spec, &rq)));
            })
            .ok();
    }
    drop(tx);
    let started = Instant::now();
    let mut results: Vec<Option<ServiceStatus>> = vec![None; specs.len()];
    let mut remaining = specs.len();
    while remaining > 0 {
        // Wait for the slowest probe still out, measured from the start.
        let wait = specs
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_none())
            .map(|(s, _)| s.timeout)
            .max()
            .unwrap_or_default()
            .saturating_sub(started.elapsed());
        match rx.recv_timeout(wait) {
            Ok((index, status)) => {
                results[index] = Some(status);
                remaining -= 1;
            }
            Err(_) => break,
        }
    }
    specs
        .iter()
        .zip(results)
        .map(|(spec, result)| {
            result.unwrap_or_else(|| {
                let limit = spec.timeout.as_secs_f64();
                ServiceStatus::new(
                    &spec.name,
                    "error",
                    None,
                    format!("no answer within {limit}s"),
                )
            })
        })
        .collect()
}

fn probe(spec: &ServiceSpec, rq: &Rq) -> ServiceStatus {
    match &spec.probe {
        Probe::Redis => probe_redis(&spec.name, rq),
        Probe::RqWorker => probe_rq_worker(&spec.name, rq),
        Probe::Http(url) => probe_http(&spec.name, url, spec.timeout),
        Probe::Tcp(addr) => probe_tcp(&spec.name, addr, spec.timeout),
    }
}

fn probe_redis(name: &str, rq: &Rq) -> ServiceStatus {
    match rq.server_info() {
        Ok(info) => {
            let field = |key: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                    .map(str::trim)
            };
            let uptime = field("uptime_in_seconds").and_then(|s| s.parse::<f64>().ok());
            let version = field("redis_version").unwrap_or("?");
            ServiceStatus::new(
                name,
                "running",
                uptime,
                format!("PONG from Redis {version}"),
            )
        }
        Err(err) if err.is_connection_refusal() => {
            ServiceStatus::new(name, "stopped", None, "connection refused")
        }
        Err(err) => ServiceStatus::new(
            name,
            "error",
            None,
            crate::error::describe_redis_error(&err),
        ),
    }
}

fn probe_rq_worker(name: &str, rq: &Rq) -> ServiceStatus {
    let workers = match rq.workers() {
        Ok(workers) => workers,
        Err(err) => {
            return ServiceStatus::new(name, "error", None, format!("cannot read workers: {err}"));
        }
    };
    let live: Vec<_> = workers.iter().filter(|w| w.listening).collect();
    if live.is_empty() {
        let detail = match workers.len() {
            0 => "no worker registered on the queue".to_string(),
            n => format!(
                "{n} worker(s) registered but none alive (no subscriber on its command channel)"
            ),
        };
        return ServiceStatus::new(name, "stopped", None, detail);
    }
    let now = now_unix();
    let oldest = live
        .iter()
        .filter_map(|w| w.birth)
        .fold(None, |acc: Option<f64>, b| {
            Some(acc.map_or(b, |a| a.min(b)))
        });
    let names: Vec<String> = live
        .iter()
        .map(|w| format!("{} ({})", w.name, w.state.as_deref().unwrap_or("?")))
        .collect();
    ServiceStatus::new(name, "running", oldest.map(|b| now - b), names.join(", "))
}

/// An HTTP client for one bounded exchange: the whole request within
/// `timeout`, redirects not followed (a redirect could lead anywhere), and
/// every status returned as an answer rather than an error. Probes and the
/// plugins' `http` import both use it.
pub fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn probe_http(name: &str, url: &str, timeout: Duration) -> ServiceStatus {
    match http_agent(timeout).get(url).call() {
        Ok(response) => {
            let code = response.status().as_u16();
            if (200..300).contains(&code) {
                ServiceStatus::new(name, "running", None, format!("HTTP {code}"))
            } else {
                ServiceStatus::new(name, "error", None, format!("HTTP {code}"))
            }
        }
        Err(ureq::Error::Io(err)) if err.kind() == ErrorKind::ConnectionRefused => {
            ServiceStatus::new(name, "stopped", None, "connection refused")
        }
        Err(ureq::Error::ConnectionFailed) => {
            ServiceStatus::new(name, "stopped", None, "connection refused")
        }
        Err(ureq::Error::Timeout(_)) => ServiceStatus::new(
            name,
            "error",
            None,
            format!("no answer within {}s", timeout.as_secs_f64()),
        ),
        Err(err) => ServiceStatus::new(name, "error", None, err.to_string()),
    }
}

fn probe_tcp(name: &str, addr: &str, timeout: Duration) -> ServiceStatus {
    let addrs: Vec<_> = match addr.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(err) => {
            return ServiceStatus::new(
                name,
                "error",
                None,
                format!("cannot resolve `{addr}`: {err}"),
            );
        }
    };
    let mut last = None;
    for sock in addrs {
        match TcpStream::connect_timeout(&sock, timeout) {
            Ok(_) => {
                return ServiceStatus::new(
                    name,
                    "running",
                    None,
                    format!("{sock} accepts connections"),
                );
            }
            Err(err) => last = Some(err),
        }
    }
    match last {
        Some(err) if err.kind() == ErrorKind::ConnectionRefused => {
            ServiceStatus::new(name, "stopped", None, "connection refused")
        }
        Some(err) if matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            ServiceStatus::new(
                name,
                "error",
                None,
                format!("no answer within {}s", timeout.as_secs_f64()),
            )
        }
        Some(err) => ServiceStatus::new(name, "error", None, err.to_string()),
        None => ServiceStatus::new(
            name,
            "error",
            None,
            format!("`{addr}` resolves to no address"),
        ),
    }
}
