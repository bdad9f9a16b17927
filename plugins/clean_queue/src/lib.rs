//! `clean_queue`: empty the RQ queue, as RQ's `Queue.empty()` does, and
//! also delete each removed job's results stream, executions and
//! dependency set (RQ leaves them behind).
//!
//! The queue list is renamed aside in one command, so exactly the jobs
//! queued at that instant are removed; a job enqueued a moment later stays.
//!
//! config: `queue` (default `default`), `key_prefix` (default `rq`).
//! grants: `redis` with EXISTS, RENAME, LRANGE, DEL on the queue and job
//! keys.

use pitstop_sdk::{Report, Request, Result, Value, action, info, progress, redis, rq};

const BATCH: usize = 500;

fn run(req: &Request) -> Result<Report> {
    let queue = req.str_or("queue", "default")?;
    let prefix = req.str_or("key_prefix", "rq")?;
    let key = format!("{prefix}:queue:{queue}");
    let aside = format!("{key}:pitstop-cleaning");

    // A run that died half-way left its list aside: finish it first.
    let mut removed = 0;
    if redis::command(&["EXISTS", &aside])? == Value::from(1) {
        info("finishing a clean that was interrupted");
        removed += delete_listed(&aside, &prefix)?;
    }
    progress(20, "taking the queue aside");
    match redis::command(&["RENAME", &key, &aside]) {
        Ok(_) => removed += delete_listed(&aside, &prefix)?,
        Err(e) if e.contains("no such key") => info("the queue is already empty"),
        Err(e) => return Err(e),
    }
    Ok(
        Report::new(format!("{removed} queued job(s) removed from `{queue}`"))
            .detail("queue", queue)
            .detail("removed", removed),
    )
}

/// Deletes every job listed in `list` with its keys, then the list.
fn delete_listed(list: &str, prefix: &str) -> Result<u64> {
    let ids = redis::strings(&["LRANGE", list, "0", "-1"])?;
    for (n, batch) in ids.chunks(BATCH).enumerate() {
        let mut keys = vec!["DEL".to_string()];
        for id in batch {
            keys.extend(rq::job_keys(prefix, id));
        }
        redis::pipeline(&[keys], false)?;
        progress(
            (20 + 70 * (n + 1) * BATCH / ids.len().max(1)).min(90) as u8,
            "deleting jobs",
        );
    }
    redis::command(&["DEL", list])?;
    Ok(ids.len() as u64)
}

action!(run);
