//! `/deployment/jobs` against jobs a real RQ worker processed, checked
//! against what RQ's own Python API says about the same Redis.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Pitstop, Redis, RqVersion, Worker, config, wait_until};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

fn every_state_as_rq_left_it(version: RqVersion) {
    let redis = Redis::start();
    let ctl = |args: &[&str]| version.ctl(&redis, args);
    // Before any worker runs: three fast jobs, one that fails, a long one,
    // one waiting on the long one, three that will still be queued, one
    // canceled while queued, one scheduled in an hour.
    ctl(&["enqueue", "fast1", "fast", "1"]);
    ctl(&["enqueue", "fast2", "fast", "2"]);
    ctl(&["enqueue", "fast3", "fast", "3"]);
    ctl(&["enqueue", "fail1", "boom"]);
    ctl(&["enqueue", "slow1", "slow", "60"]);
    ctl(&["enqueue", "dep1", "fast", "4", "--depends-on", "slow1"]);
    ctl(&["enqueue", "q1", "fast", "5"]);
    ctl(&["enqueue", "q2", "fast", "6"]);
    ctl(&["enqueue", "q3", "fast", "7"]);
    ctl(&["enqueue", "c1", "fast", "8"]);
    ctl(&["cancel", "c1"]);
    ctl(&["enqueue", "sched1", "fast", "9", "--in", "3600"]);

    let worker = Worker::start(&redis, version, "w-jobs");
    wait_until(Duration::from_secs(30), "slow1 to start", || {
        ctl(&["status", "slow1"]) == "started"
    });

    let pitstop = Pitstop::start(&config(&redis.url(), ""));
    let (status, jobs) = pitstop.get("/deployment/jobs");
    assert_eq!(status, 200, "{jobs}");
    let rq = version.describe(&redis);
    let registries = &rq["registries"];

    assert_eq!(ids(&jobs["queued"]), ["q1", "q2", "q3"]);
    assert_eq!(ids(&jobs["queued"]), ids_of(&registries["queued"]));
    assert_eq!(ids(&jobs["started"]), ["slow1"]);
    assert_eq!(ids(&jobs["started"]), ids_of(&registries["started"]));
    assert_eq!(
        ids(&jobs["finished"]),
        ["fast3", "fast2", "fast1"],
        "newest first"
    );
    assert_eq!(
        sorted(ids(&jobs["finished"])),
        sorted(ids_of(&registries["finished"]))
    );
    assert_eq!(ids(&jobs["failed"]), ["fail1"]);
    assert_eq!(ids(&jobs["failed"]), ids_of(&registries["failed"]));

    let counts = &jobs["counts"];
    for (state, n) in [
        ("queued", 3),
        ("started", 1),
        ("finished", 3),
        ("failed", 1),
        ("canceled", 1),
        ("deferred", 1),
        ("scheduled", 1),
    ] {
        assert_eq!(counts[state], n, "count of {state}: {counts}");
        assert_eq!(
            registries[state].as_array().unwrap().len(),
            n,
            "RQ's count of {state}"
        );
    }
    assert_eq!(jobs["total"], 11);
    assert_eq!(jobs["dangling"], 0);

    // Each listed job's status and description are RQ's.
    for state in ["queued", "started", "finished", "failed"] {
        for job in jobs[state].as_array().unwrap() {
            let id = job["id"].as_str().unwrap();
            let theirs = &rq["jobs"][id];
            assert_eq!(job["status"], theirs["status"], "{id}");
            assert_eq!(job["description"], theirs["description"], "{id}");
            for field in [
                "id",
                "status",
                "description",
                "origin",
                "created_at",
                "enqueued_at",
                "started_at",
                "ended_at",
                "worker",
            ] {
                assert!(job.get(field).is_some(), "{id} lacks `{field}`");
            }
        }
    }
    let started = &jobs["started"][0];
    assert_eq!(started["worker"], worker.name);
    assert_eq!(started["abandoned"], false);
    assert!(
        started["execution_id"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{started}"
    );
    assert!(started["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(jobs["finished"][0]["description"], "jobs.fast(3)");
    assert_eq!(jobs["finished"][0]["origin"], "linkedin-bot");
    let error = jobs["failed"][0]["error"].as_str().unwrap();
    assert!(error.contains("ValueError: boom on purpose"), "{error}");
    assert!(error.starts_with("Traceback"), "{error}");

    // Pages: `limit` and `offset` apply to every list.
    let (_, page) = pitstop.get("/deployment/jobs?limit=1&offset=1");
    assert_eq!(ids(&page["queued"]), ["q2"]);
    assert_eq!(ids(&page["finished"]), ["fast2"]);
    assert_eq!(page["counts"]["queued"], 3, "counts are whole, not paged");

    // A registry entry whose hash is gone is skipped and counted, and an
    // RQ 1 job with its error in the hash (`exc_info`) reads too.
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000)
        .to_string();
    redis.cmd::<i64>(&["ZADD", "rq:failed:linkedin-bot", &later, "ghost"]);
    redis.cmd::<i64>(&[
        "HSET",
        "rq:job:old1",
        "status",
        "failed",
        "exc_info",
        "Traceback: old style",
        "description",
        "jobs.old()",
    ]);
    redis.cmd::<i64>(&["ZADD", "rq:failed:linkedin-bot", &later, "old1"]);
    let (_, jobs) = pitstop.get("/deployment/jobs");
    assert_eq!(jobs["dangling"], 1);
    let failed = ids(&jobs["failed"]);
    assert!(
        failed.contains(&"old1".to_string()) && !failed.contains(&"ghost".to_string()),
        "{failed:?}"
    );
    let old = jobs["failed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "old1")
        .unwrap();
    assert_eq!(old["error"], "Traceback: old style");
    assert!(pitstop.health_ok());
    drop(worker);
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn every_state_as_rq_2_left_it() {
    every_state_as_rq_left_it(RqVersion::Two);
}

#[test]
fn every_state_as_rq_3_left_it() {
    every_state_as_rq_left_it(RqVersion::Three);
}

#[test]
fn abandoned_started_jobs_are_marked() {
    // A started entry whose heartbeat deadline has passed: its worker died.
    let redis = Redis::start();
    redis.cmd::<i64>(&["ZADD", "rq:wip:linkedin-bot", "1000", "dead1:exec1"]);
    redis.cmd::<i64>(&[
        "HSET",
        "rq:job:dead1",
        "status",
        "started",
        "worker_name",
        "gone",
        "description",
        "jobs.slow(9)",
    ]);
    let pitstop = Pitstop::start(&config(&redis.url(), ""));
    let (_, jobs) = pitstop.get("/deployment/jobs");
    let job = &jobs["started"][0];
    assert_eq!(job["id"], "dead1");
    assert_eq!(job["execution_id"], "exec1");
    assert_eq!(job["abandoned"], true);
    assert_eq!(job["worker"], "gone");
}
