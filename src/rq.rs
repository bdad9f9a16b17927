//! RQ ("Redis Queue", python-rq) as it lies in Redis: the job listing, the
//! workers, and the emergency stop.
//!
//! This is the only module that sends Redis commands. It reads RQ's own
//! layout directly (`shared/reference/rq-layout.md`: RQ 1.16, 2.x and 3.0),
//! never through RQ, and always in pipelines: one listing costs two round
//! trips whatever the queue holds, and the cost of a page does not grow with
//! the jobs outside it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use redis::Value;
use serde::Serialize;

use crate::clock::{now_unix, parse_rq_time};
use crate::error::Result;
use crate::redis_pool::RedisPool;

/// Largest page of a job list (`?limit=`).
pub const MAX_PAGE: usize = 1000;
/// How long the emergency stop watches for `stopped` before it reports.
const STOP_CONFIRM: Duration = Duration::from_secs(2);
/// A failed job's traceback is cut to this many bytes in listings.
const MAX_ERROR_TEXT: usize = 16 << 10;

/// `Queue.empty()` from RQ's `queue.py`, made to leave nothing behind: it
/// pops every queued id atomically and deletes the job's hash, its
/// dependents set, its dependencies set (RQ's double-colon key), its
/// results stream and its executions. RQ's own script leaves the last three.
const EMPTY_QUEUE_LUA: &str = r#"
local prefix = ARGV[1]
local count = 0
while true do
  local id = redis.call("LPOP", KEYS[1])
  if not id then break end
  redis.call("DEL", prefix .. ":job:" .. id, prefix .. ":job:" .. id .. ":dependents",
             prefix .. ":job::" .. id .. ":dependencies", prefix .. ":results:" .. id,
             prefix .. ":executions:" .. id)
  count = count + 1
end
return count
"#;

/// RQ's data for one queue.
pub struct Rq {
    pool: RedisPool,
    queue: String,
    prefix: String,
    empty_script: redis::Script,
}

/// One job as the API shows it. Empty RQ fields are `null`.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: String,
    pub status: Option<String>,
    pub description: Option<String>,
    pub origin: Option<String>,
    pub created_at: Option<String>,
    pub enqueued_at: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub worker: Option<String>,
    /// Failed and stopped jobs: the traceback text RQ stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Started jobs: RQ 2's execution id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Started jobs: the heartbeat deadline has passed, so no live worker
    /// runs it any more; RQ's cleanup will move it to failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<bool>,
}

/// Every registry's size. Finished and failed count only live entries, as
/// RQ does after its cleanup.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub queued: u64,
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
    pub canceled: u64,
    pub deferred: u64,
    pub scheduled: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.queued
            + self.started
            + self.finished
            + self.failed
            + self.canceled
            + self.deferred
            + self.scheduled
    }
}

#[derive(Debug, Serialize)]
pub struct JobsPage {
    pub queued: Vec<Job>,
    pub started: Vec<Job>,
    pub finished: Vec<Job>,
    pub failed: Vec<Job>,
    pub counts: Counts,
    /// Ids listed in a registry whose job hash is gone: skipped, counted.
    pub dangling: u64,
}

/// Which part of each list to show.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            offset: 0,
            limit: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Worker {
    pub name: String,
    pub state: Option<String>,
    /// Unix seconds.
    pub birth: Option<f64>,
    pub last_heartbeat: Option<f64>,
    /// The worker's command channel has a subscriber: the process is alive
    /// right now (a killed worker's hash lingers for minutes, this does not).
    pub listening: bool,
}

/// What the emergency stop did, each number counted from Redis replies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StopReport {
    /// `success` when every running job was confirmed stopped, `partial`
    /// otherwise.
    pub status: &'static str,
    /// Jobs popped from the queue by the atomic empty.
    pub queued_removed: u64,
    /// Running jobs whose worker received `stop-job` (PUBLISH reached ≥ 1).
    pub stop_requested: u64,
    /// Running jobs that could not be told: no worker recorded, or nobody
    /// listening on the worker's channel.
    pub stop_undeliverable: u64,
    /// Jobs RQ itself marked `stopped` within the confirmation window.
    pub stopped_confirmed: u64,
    /// Started entries whose heartbeat had already expired (dead worker).
    pub abandoned: u64,
    /// `queued_removed + stopped_confirmed`: jobs known to be stopped.
    pub total: u64,
    /// Per running job: id, worker and what happened.
    pub jobs: Vec<StoppedJob>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoppedJob {
    pub id: String,
    pub worker: Option<String>,
    /// `stopped`, `requested` (not confirmed in time), `undeliverable` or
    /// `abandoned`.
    pub outcome: String,
}

const JOB_FIELDS: [&str; 8] = [
    "status",
    "description",
    "origin",
    "created_at",
    "enqueued_at",
    "started_at",
    "ended_at",
    "worker_name",
];

impl Rq {
    pub fn new(pool: RedisPool, queue: &str, prefix: &str) -> Rq {
        Rq {
            pool,
            queue: queue.to_string(),
            prefix: prefix.to_string(),
            empty_script: redis::Script::new(EMPTY_QUEUE_LUA),
        }
    }

    /// PING, then `INFO server`, on a new connection, so that the caller
    /// sees this connect's own failure (refused, timed out).
    pub fn server_info(&self) -> redis::RedisResult<String> {
        let mut conn = self.pool.connect()?;
        redis::cmd("PING").query::<String>(&mut conn)?;
        redis::cmd("INFO").arg("server").query(&mut conn)
    }

    fn key(&self, registry: &str) -> String {
        format!("{}:{registry}:{}", self.prefix, self.queue)
    }

    fn job_key(&self, id: &str) -> String {
        format!("{}:job:{id}", self.prefix)
    }

    /// Lists each state with job details, newest first for finished and
    /// failed. Two round trips: one for the ids and counts, one for the
    /// job hashes (and, for failed jobs, their latest result).
    pub fn jobs(&self, page: Page) -> Result<JobsPage> {
        if page.limit == 0 {
            // `LRANGE q 0 -1` would list the whole queue: take a page of
            // one and keep only the counts (and the running jobs).
            let mut counted = self.jobs(Page {
                offset: page.offset,
                limit: 1,
            })?;
            counted.queued.clear();
            counted.finished.clear();
            counted.failed.clear();
            return Ok(counted);
        }
        let now = now_unix();
        let (start, stop) = (
            page.offset as isize,
            (page.offset + page.limit) as isize - 1,
        );
        let live = format!("({now}");
        let mut pipe = redis::pipe();
        pipe.cmd("LLEN")
            .arg(self.key("queue"))
            .cmd("LRANGE")
            .arg(self.key("queue"))
            .arg(start)
            .arg(stop)
            .cmd("ZRANGE")
            .arg(self.key("wip"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("ZCOUNT")
            .arg(self.key("finished"))
            .arg(&live)
            .arg("+inf")
            .cmd("ZREVRANGEBYSCORE")
            .arg(self.key("finished"))
            .arg("+inf")
            .arg(&live)
            .arg("LIMIT")
            .arg(page.offset)
            .arg(page.limit)
            .cmd("ZCOUNT")
            .arg(self.key("failed"))
            .arg(&live)
            .arg("+inf")
            .cmd("ZREVRANGEBYSCORE")
            .arg(self.key("failed"))
            .arg("+inf")
            .arg(&live)
            .arg("LIMIT")
            .arg(page.offset)
            .arg(page.limit)
            .cmd("ZCARD")
            .arg(self.key("canceled"))
            .cmd("ZCARD")
            .arg(self.key("deferred"))
            .cmd("ZCARD")
            .arg(self.key("scheduled"));
        let replies: Vec<Value> = self.pool.with(|c| pipe.query(c))?;
        let int = |i: usize| replies.get(i).and_then(as_u64).unwrap_or(0);
        let ids = |i: usize| replies.get(i).map(strings).unwrap_or_default();
        let started_members = replies.get(2).map(scored).unwrap_or_default();
        let counts = Counts {
            queued: int(0),
            started: started_members.len() as u64,
            finished: int(3),
            failed: int(5),
            canceled: int(7),
            deferred: int(8),
            scheduled: int(9),
        };
        let queued_ids = ids(1);
        let finished_ids = ids(4);
        let failed_ids = ids(6);

        // Second round trip: every job hash on the page.
        let mut pipe = redis::pipe();
        for id in queued_ids.iter().chain(&finished_ids) {
            pipe.cmd("HMGET").arg(self.job_key(id)).arg(&JOB_FIELDS[..]);
        }
        for (member, _) in &started_members {
            let (id, _) = split_member(member);
            pipe.cmd("HMGET").arg(self.job_key(id)).arg(&JOB_FIELDS[..]);
            pipe.cmd("HGET")
                .arg(format!("{}:execution:{member}", self.prefix))
                .arg("worker_name");
        }
        for id in &failed_ids {
            pipe.cmd("HMGET")
                .arg(self.job_key(id))
                .arg(&JOB_FIELDS[..])
                .arg("exc_info");
            pipe.cmd("XREVRANGE")
                .arg(format!("{}:results:{id}", self.prefix))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
        }
        let replies: Vec<Value> = if pipe.is_empty() {
            Vec::new()
        } else {
            self.pool.with(|c| pipe.query(c))?
        };
        let mut replies = replies.into_iter();
        let mut dangling = 0;
        let mut take = |ids: &[String], replies: &mut std::vec::IntoIter<Value>| {
            let mut jobs = Vec::new();
            for id in ids {
                match job_from_fields(id, replies.next()) {
                    Some(job) => jobs.push(job),
                    None => dangling += 1,
                }
            }
            jobs
        };
        let queued = take(&queued_ids, &mut replies);
        let finished = take(&finished_ids, &mut replies);
        let mut started = Vec::new();
        for (member, deadline) in &started_members {
            let (id, execution_id) = split_member(member);
            let job = job_from_fields(id, replies.next());
            let execution_worker = replies.next().as_ref().and_then(as_string);
            let Some(mut job) = job else {
                dangling += 1;
                continue;
            };
            job.worker = job.worker.or(execution_worker);
            job.execution_id = execution_id.map(str::to_string);
            job.abandoned = Some(*deadline < now);
            started.push(job);
        }
        let mut failed = Vec::new();
        for id in &failed_ids {
            let fields = replies.next();
            let exc_info = match &fields {
                Some(Value::Array(values)) => values.get(JOB_FIELDS.len()).and_then(as_bytes),
                _ => None,
            };
            let result = replies.next();
            let Some(mut job) = job_from_fields(id, fields) else {
                dangling += 1;
                continue;
            };
            job.error = result
                .as_ref()
                .and_then(latest_exc_string)
                .or_else(|| exc_info.map(|raw| inflate_text(&raw)));
            failed.push(job);
        }
        Ok(JobsPage {
            queued,
            started,
            finished,
            failed,
            counts,
            dangling,
        })
    }

    /// Job counts only (for `/metrics` and `pitstop status`): one round trip.
    pub fn counts(&self) -> Result<Counts> {
        self.jobs(Page {
            offset: 0,
            limit: 0,
        })
        .map(|p| p.counts)
    }

    /// The workers registered on the queue, with their liveness.
    pub fn workers(&self) -> Result<Vec<Worker>> {
        let names: Vec<String> = self.pool.with(|c| {
            redis::cmd("SMEMBERS")
                .arg(format!("{}:workers:{}", self.prefix, self.queue))
                .query(c)
        })?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in &names {
            pipe.cmd("HMGET")
                .arg(key)
                .arg(&["state", "birth", "last_heartbeat", "death"][..]);
            let name = key.rsplit_once(":worker:").map_or(key.as_str(), |(_, n)| n);
            pipe.cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(format!("{}:pubsub:{name}", self.prefix));
        }
        let replies: Vec<Value> = self.pool.with(|c| pipe.query(c))?;
        let mut workers = Vec::new();
        for (key, pair) in names.iter().zip(replies.chunks(2)) {
            let name = key
                .rsplit_once(":worker:")
                .map_or(key.as_str(), |(_, n)| n)
                .to_string();
            let fields = match &pair[0] {
                Value::Array(values) => values.iter().map(as_string).collect::<Vec<_>>(),
                _ => continue,
            };
            if fields.iter().all(Option::is_none) || fields[3].is_some() {
                continue; // expired hash, or the worker registered its death
            }
            let listening = match &pair[1] {
                Value::Array(values) => values.get(1).and_then(as_u64).unwrap_or(0) > 0,
                _ => false,
            };
            workers.push(Worker {
                name,
                state: fields[0].clone(),
                birth: fields[1].as_deref().and_then(parse_rq_time),
                last_heartbeat: fields[2].as_deref().and_then(parse_rq_time),
                listening,
            });
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(workers)
    }

    /// The emergency stop, in RQ's own terms (DESIGN section 7): empty the
    /// queue atomically first, so that no freed worker can take the next
    /// job; then send `stop-job` to the worker of every running job, which
    /// kills the work-horse and files the job as `stopped`; then watch Redis
    /// for up to two seconds to confirm, stopping any job that slipped from
    /// the queue into a worker while we worked.
    pub fn emergency_stop(&self) -> Result<StopReport> {
        let queue_key = self.key("queue");
        let queued_removed: u64 = self.pool.with(|c| {
            self.empty_script
                .key(&queue_key)
                .arg(&self.prefix)
                .invoke(c)
        })?;
        let mut report = StopReport {
            queued_removed,
            ..StopReport::default()
        };
        let mut handled: HashSet<String> = HashSet::new();
        let mut requested: Vec<String> = Vec::new();
        self.stop_running(&mut report, &mut handled, &mut requested)?;

        let deadline = Instant::now() + STOP_CONFIRM;
        let mut confirmed: HashSet<String> = HashSet::new();
        loop {
            let pending: Vec<&String> = requested
                .iter()
                .filter(|id| !confirmed.contains(*id))
                .collect();
            if !pending.is_empty() {
                let mut pipe = redis::pipe();
                for id in &pending {
                    pipe.cmd("HGET").arg(self.job_key(id)).arg("status");
                }
                let statuses: Vec<Option<String>> = self.pool.with(|c| pipe.query(c))?;
                for (id, status) in pending.iter().zip(statuses) {
                    if status.as_deref() == Some("stopped") {
                        confirmed.insert((*id).clone());
                    }
                }
            }
            // A job that was between the queue and the worker's start when
            // we emptied the queue shows up here now; stop it too.
            let before = requested.len();
            self.stop_running(&mut report, &mut handled, &mut requested)?;
            let all_done = confirmed.len() == requested.len() && before == requested.len();
            if all_done || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for job in &mut report.jobs {
            if confirmed.contains(&job.id) {
                job.outcome = "stopped".to_string();
            }
        }
        report.stopped_confirmed = confirmed.len() as u64;
        report.total = report.queued_removed + report.stopped_confirmed;
        let complete =
            report.stop_undeliverable == 0 && report.stopped_confirmed == report.stop_requested;
        report.status = if complete { "success" } else { "partial" };
        Ok(report)
    }

    /// Sends `stop-job` for every started job not yet handled.
    fn stop_running(
        &self,
        report: &mut StopReport,
        handled: &mut HashSet<String>,
        requested: &mut Vec<String>,
    ) -> Result<()> {
        let now = now_unix();
        let members: Vec<(String, f64)> = self
            .pool
            .with(|c| {
                redis::cmd("ZRANGE")
                    .arg(self.key("wip"))
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query::<Value>(c)
            })
            .map(|v| scored(&v))?;
        let fresh: Vec<(String, f64)> = members
            .into_iter()
            .filter(|(member, _)| !handled.contains(split_member(member).0))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (member, _) in &fresh {
            pipe.cmd("HGET")
                .arg(self.job_key(split_member(member).0))
                .arg("worker_name");
            pipe.cmd("HGET")
                .arg(format!("{}:execution:{member}", self.prefix))
                .arg("worker_name");
        }
        let names: Vec<Option<String>> = self.pool.with(|c| pipe.query(c))?;
        let mut workers: HashMap<String, Option<String>> = HashMap::new();
        for ((member, _), pair) in fresh.iter().zip(names.chunks(2)) {
            let worker = pair[0]
                .clone()
                .filter(|w| !w.is_empty())
                .or_else(|| pair[1].clone().filter(|w| !w.is_empty()));
            workers.insert(member.clone(), worker);
        }
        for (member, deadline) in &fresh {
            let (id, _) = split_member(member);
            handled.insert(id.to_string());
            let worker = workers.remove(member).flatten();
            let outcome = if *deadline < now {
                report.abandoned += 1;
                "abandoned"
            } else if let Some(worker) = &worker {
                let payload = serde_json::json!({"command": "stop-job", "job_id": id}).to_string();
                let channel = format!("{}:pubsub:{worker}", self.prefix);
                let receivers: u64 = self
                    .pool
                    .with(|c| redis::cmd("PUBLISH").arg(&channel).arg(&payload).query(c))?;
                if receivers > 0 {
                    report.stop_requested += 1;
                    requested.push(id.to_string());
                    "requested"
                } else {
                    report.stop_undeliverable += 1;
                    "undeliverable"
                }
            } else {
                report.stop_undeliverable += 1;
                "undeliverable"
            };
            report.jobs.push(StoppedJob {
                id: id.to_string(),
                worker,
                outcome: outcome.to_string(),
            });
        }
        Ok(())
    }
}

/// RQ 2 started-registry members are `<job_id>:<execution_id>`; RQ 1 has
/// plain ids. Job ids never contain `:` (RQ validates them).
fn split_member(member: &str) -> (&str, Option<&str>) {
    match member.split_once(':') {
        Some((id, exec)) => (id, Some(exec)),
        None => (member, None),
    }
}

fn job_from_fields(id: &str, reply: Option<Value>) -> Option<Job> {
    let Some(Value::Array(values)) = reply else {
        return None;
    };
    let fields: Vec<Option<String>> = values
        .iter()
        .take(JOB_FIELDS.len())
        .map(as_string)
        .collect();
    if fields.iter().all(Option::is_none) {
        return None;
    }
    let get = |i: usize| fields.get(i).cloned().flatten().filter(|s| !s.is_empty());
    Some(Job {
        id: id.to_string(),
        status: get(0),
        description: get(1),
        origin: get(2),
        created_at: get(3),
        enqueued_at: get(4),
        started_at: get(5),
        ended_at: get(6),
        worker: get(7),
        error: None,
        execution_id: None,
        abandoned: None,
    })
}

/// `exc_string` of the newest entry of an `XREVRANGE … COUNT 1` reply:
/// base64, then zlib, then UTF-8 text.
fn latest_exc_string(reply: &Value) -> Option<String> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let Some(Value::Array(entry)) = entries.first() else {
        return None;
    };
    let Some(Value::Array(fields)) = entry.get(1) else {
        return None;
    };
    let mut pairs = fields.chunks(2);
    let encoded =
        pairs.find(|p| p.len() == 2 && as_string(&p[0]).as_deref() == Some("exc_string"))?;
    let encoded = as_bytes(&encoded[1])?;
    let raw = base64_decode(&encoded)?;
    Some(inflate_text(&raw))
}

/// zlib-inflated text, or the bytes as text when they are not zlib (RQ 1's
/// plain-text `exc_info`). Capped at [`MAX_ERROR_TEXT`].
fn inflate_text(raw: &[u8]) -> String {
    let bytes = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(raw, MAX_ERROR_TEXT)
        .or_else(|err| match err.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Ok(err.output),
            _ => Err(()),
        })
        .unwrap_or_else(|()| raw[..raw.len().min(MAX_ERROR_TEXT)].to_vec());
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// Standard base64 (Python's `base64.b64encode`), padding optional.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn as_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => as_string(other)?.parse().ok(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(values) => values.iter().filter_map(as_string).collect(),
        _ => Vec::new(),
    }
}

/// A `WITHSCORES` reply as (member, score) pairs.
fn scored(value: &Value) -> Vec<(String, f64)> {
    let Value::Array(values) = value else {
        return Vec::new();
    };
    values
        .chunks(2)
        .filter_map(|pair| {
            let member = as_string(pair.first()?)?;
            let score = match pair.get(1)? {
                Value::Double(d) => *d,
                other => {
                    let text = as_string(other)?;
                    match text.as_str() {
                        "inf" | "+inf" => f64::INFINITY,
                        "-inf" => f64::NEG_INFINITY,
                        t => t.parse().ok()?,
                    }
                }
            };
            Some((member, score))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rq_tracebacks() {
        // base64(zlib("Traceback\nValueError: boom")) as Python writes it.
        let b64 =
            b"eJwLKUpMTk1KTM5W0MjNLy5RKEpNTs0rUUhOzMlRyEksLtG04gpLzClNdS0qyi+yUkjKz88FANsYEjg=";
        let text = base64_decode(b64).map(|raw| inflate_text(&raw));
        assert_eq!(
            text.as_deref(),
            Some("Traceback (most recent call last):\nValueError: boom")
        );
        assert_eq!(inflate_text(b"plain text error"), "plain text error");
        assert_eq!(base64_decode(b"aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode(b"aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode(b"a*"), None);
    }

    #[test]
    fn members() {
        assert_eq!(split_member("abc:123"), ("abc", Some("123")));
        assert_eq!(split_member("abc"), ("abc", None));
    }
}
