//! `clean_finished_jobs`: delete the finished and failed RQ jobs of a
//! queue: their registry entries, job hashes and `rq:results:<id>` streams
//! (failure streams have no expiry of their own).
//!
//! config: `queue` (default `default`), `key_prefix` (default `rq`).
//! grants: `redis` with ZRANGE, ZREM, DEL on the registries and job keys.

use pitstop_sdk::{Report, Request, Result, action, progress, redis, rq};

const BATCH: usize = 500;

fn run(req: &Request) -> Result<Report> {
    let queue = req.str_or("queue", "default")?;
    let prefix = req.str_or("key_prefix", "rq")?;
    progress(10, "finished jobs");
    let finished = purge(&format!("{prefix}:finished:{queue}"), &prefix)?;
    progress(55, "failed jobs");
    let failed = purge(&format!("{prefix}:failed:{queue}"), &prefix)?;
    Ok(Report::new(format!(
        "{finished} finished and {failed} failed job(s) deleted"
    ))
    .detail("finished", finished)
    .detail("failed", failed)
    .detail("total", finished + failed))
}

/// Deletes every job of a registry, a batch at a time, each batch in one
/// MULTI/EXEC: a job's keys and its registry entry go together.
fn purge(registry: &str, prefix: &str) -> Result<u64> {
    let ids = redis::strings(&["ZRANGE", registry, "0", "-1"])?;
    for batch in ids.chunks(BATCH) {
        let mut del = vec!["DEL".to_string()];
        let mut zrem = vec!["ZREM".to_string(), registry.to_string()];
        for id in batch {
            del.extend(rq::job_keys(prefix, id));
            zrem.push(id.clone());
        }
        redis::pipeline(&[del, zrem], true)?;
    }
    Ok(ids.len() as u64)
}

action!(run);
