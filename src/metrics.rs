//! Counters kept in memory and rendered in Prometheus' text format.
//!
//! Counters reset when pitstop restarts, which Prometheus' `rate()` and
//! `increase()` handle. Job counts and service states are read fresh on each
//! scrape rather than cached, so a scrape never shows stale numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::rq::Counts;
use crate::services::ServiceStatus;

#[derive(Default)]
pub struct Metrics {
    /// HTTP responses by status code.
    responses: Mutex<BTreeMap<u16, u64>>,
    /// Action runs (emergency stops included) by action and outcome.
    runs: Mutex<BTreeMap<(String, String), u64>>,
}

impl Metrics {
    pub fn count_response(&self, status: u16) {
        *crate::lock(&self.responses).entry(status).or_default() += 1;
    }

    pub fn count_run(&self, action: &str, status: &str) {
        let mut runs = crate::lock(&self.runs);
        *runs
            .entry((action.to_string(), status.to_string()))
            .or_default() += 1;
    }

    /// The whole exposition. `counts` is `None` when Redis is unreachable.
    pub fn render(
        &self,
        version: &str,
        uptime_secs: f64,
        counts: Option<&Counts>,
        services: &[ServiceStatus],
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP pitstop_info pitstop's version.\n# TYPE pitstop_info gauge"
        );
        let _ = writeln!(out, "pitstop_info{{version=\"{}\"}} 1", escape(version));
        let _ = writeln!(
            out,
            "# HELP pitstop_uptime_seconds Seconds since pitstop started.\n# TYPE pitstop_uptime_seconds gauge"
        );
        let _ = writeln!(out, "pitstop_uptime_seconds {uptime_secs:.0}");

        let _ = writeln!(
            out,
            "# HELP pitstop_redis_up Whether Redis answered this scrape.\n# TYPE pitstop_redis_up gauge"
        );
        let _ = writeln!(out, "pitstop_redis_up {}", u8::from(counts.is_some()));
        if let Some(c) = counts {
            let _ = writeln!(
                out,
                "# HELP pitstop_rq_jobs RQ jobs per state.\n# TYPE pitstop_rq_jobs gauge"
            );
            for (state, n) in [
                ("queued", c.queued),
                ("started", c.started),
                ("finished", c.finished),
                ("failed", c.failed),
                ("canceled", c.canceled),
                ("deferred", c.deferred),
                ("scheduled", c.scheduled),
            ] {
                let _ = writeln!(out, "pitstop_rq_jobs{{state=\"{state}\"}} {n}");
            }
        }

        let _ = writeln!(
            out,
            "# HELP pitstop_service_up Whether each service's probe found it running.\n# TYPE pitstop_service_up gauge"
        );
        for s in services {
            let _ = writeln!(
                out,
                "pitstop_service_up{{service=\"{}\",status=\"{}\"}} {}",
                escape(&s.name),
                s.status,
                u8::from(s.status == "running")
            );
        }

        let _ = writeln!(
            out,
            "# HELP pitstop_http_responses_total HTTP responses by status code.\n# TYPE pitstop_http_responses_total counter"
        );
        for (code, n) in crate::lock(&self.responses).iter() {
            let _ = writeln!(out, "pitstop_http_responses_total{{code=\"{code}\"}} {n}");
        }

        let _ = writeln!(
            out,
            "# HELP pitstop_action_runs_total Action runs and emergency stops by outcome.\n# TYPE pitstop_action_runs_total counter"
        );
        for ((action, status), n) in crate::lock(&self.runs).iter() {
            let _ = writeln!(
                out,
                "pitstop_action_runs_total{{action=\"{}\",status=\"{}\"}} {n}",
                escape(action),
                escape(status)
            );
        }
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
