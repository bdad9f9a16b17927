//! The emergency stop against a real forking RQ worker: the running job
//! ends as `stopped` with its work-horse killed, the queue is empty first,
//! and no queued job starts after the stop.

use std::time::{Duration, Instant};

use crate::support::{Pitstop, Redis, RqVersion, Worker, config, wait_until};

fn stop_really_stops(version: RqVersion) {
    let redis = Redis::start();
    let ctl = |args: &[&str]| version.ctl(&redis, args);
    ctl(&["enqueue", "long1", "slow", "60"]);
    let worker = Worker::start(&redis, version, "w-stop");
    wait_until(Duration::from_secs(30), "long1 to start", || {
        ctl(&["status", "long1"]) == "started"
    });
    wait_until(Duration::from_secs(10), "the work-horse to exist", || {
        !worker.horses().is_empty()
    });
    // Queued behind it: long jobs that would start the moment it is freed.
    for id in ["next1", "next2", "next3"] {
        ctl(&["enqueue", id, "slow", "60"]);
    }
    let pitstop = Pitstop::start(&config(&redis.url(), ""));

    let clock = Instant::now();
    let (status, report) = pitstop.post("/stop", "");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "success", "{report}");
    assert_eq!(report["queued_removed"], 3);
    assert_eq!(report["stop_requested"], 1);
    assert_eq!(report["stop_undeliverable"], 0);
    assert_eq!(report["stopped_confirmed"], 1);
    assert_eq!(report["total"], 4);
    assert_eq!(report["jobs"][0]["id"], "long1");
    assert_eq!(report["jobs"][0]["worker"], "w-stop");
    assert_eq!(report["jobs"][0]["outcome"], "stopped");

    // RQ itself files the job as stopped, the horse is gone, all within 3 s.
    wait_until(
        Duration::from_secs(3).saturating_sub(clock.elapsed()),
        "the horse to be gone",
        || worker.horses().is_empty(),
    );
    assert_eq!(ctl(&["status", "long1"]), "stopped");
    let rq = version.describe(&redis);
    assert!(
        rq["registries"]["failed"]
            .as_array()
            .unwrap()
            .contains(&"long1".into()),
        "{rq}"
    );
    assert!(
        clock.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        clock.elapsed()
    );

    // Give a freed worker every chance to take another job: it must not.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(redis.cmd::<i64>(&["LLEN", "rq:queue:linkedin-bot"]), 0);
    assert_eq!(
        redis.cmd::<i64>(&["ZCARD", "rq:wip:linkedin-bot"]),
        0,
        "nothing started after the stop"
    );
    assert!(worker.horses().is_empty(), "no new work-horse");
    for id in ["next1", "next2", "next3"] {
        assert_eq!(ctl(&["status", id]), "missing", "{id} was deleted, not run");
        assert_eq!(redis.cmd::<i64>(&["EXISTS", &format!("rq:job:{id}")]), 0);
    }
    let rq = version.describe(&redis);
    assert_eq!(rq["registries"]["queued"], serde_json::json!([]));
    assert_eq!(rq["registries"]["started"], serde_json::json!([]));
    assert!(
        worker.log(&redis).contains("long1"),
        "the worker saw the job"
    );

    // The jobs listing agrees.
    let (_, jobs) = pitstop.get("/deployment/jobs");
    assert_eq!(jobs["counts"]["queued"], 0);
    assert_eq!(jobs["counts"]["started"], 0);
    assert_eq!(jobs["failed"][0]["id"], "long1");
    assert_eq!(jobs["failed"][0]["status"], "stopped");
    assert!(
        jobs["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("stopped"),
        "{}",
        jobs["failed"][0]
    );

    // A second stop finds nothing to do, and says so.
    let (_, again) = pitstop.post("/stop", "");
    assert_eq!(again["total"], 0);
    assert_eq!(again["status"], "success");
}

#[test]
fn stop_really_stops_rq_2() {
    stop_really_stops(RqVersion::Two);
}

#[test]
fn stop_really_stops_rq_3() {
    stop_really_stops(RqVersion::Three);
}

#[test]
fn a_running_job_without_a_live_worker_is_reported_undeliverable() {
    let redis = Redis::start();
    let far = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600)
        .to_string();
    // Started on a worker that is not listening (its process is gone but its
    // heartbeat has not expired yet), and one with no worker recorded.
    redis.cmd::<i64>(&[
        "ZADD",
        "rq:wip:linkedin-bot",
        &far,
        "orphan1:e1",
        &far,
        "orphan2",
    ]);
    redis.cmd::<i64>(&[
        "HSET",
        "rq:job:orphan1",
        "status",
        "started",
        "worker_name",
        "ghost-worker",
    ]);
    redis.cmd::<i64>(&[
        "HSET",
        "rq:job:orphan2",
        "status",
        "started",
        "worker_name",
        "",
    ]);
    let pitstop = Pitstop::start(&config(&redis.url(), ""));
    let (status, report) = pitstop.post("/stop", "");
    assert_eq!(status, 200);
    assert_eq!(report["status"], "partial", "{report}");
    assert_eq!(report["stop_requested"], 0);
    assert_eq!(report["stop_undeliverable"], 2);
    assert_eq!(report["stopped_confirmed"], 0);
    assert_eq!(report["total"], 0);
}

#[test]
fn rq_3_with_its_own_key_prefix() {
    // RQ 3 takes every key's prefix from RQ_KEY_PREFIX; pitstop's
    // `redis.key_prefix` must follow it for listing and for the stop.
    let redis = Redis::start();
    let version = RqVersion::Three;
    let ctl = |args: &[&str]| version.ctl_with_prefix(&redis, "botq", args);
    ctl(&["enqueue", "done1", "fast", "1"]);
    ctl(&["enqueue", "long1", "slow", "60"]);
    let worker = Worker::start_with_prefix(&redis, version, "w-prefix", "botq");
    wait_until(Duration::from_secs(30), "long1 to start", || {
        ctl(&["status", "long1"]) == "started"
    });
    ctl(&["enqueue", "next1", "slow", "60"]);
    assert_eq!(
        redis.cmd::<i64>(&["EXISTS", "rq:queue:linkedin-bot"]),
        0,
        "nothing under the default prefix"
    );

    let pitstop = Pitstop::start(
        &config(&redis.url(), "").replace("[redis]\n", "[redis]\nkey_prefix = \"botq\"\n"),
    );
    let (_, jobs) = pitstop.get("/deployment/jobs");
    assert_eq!(jobs["queued"][0]["id"], "next1", "{jobs}");
    assert_eq!(jobs["started"][0]["id"], "long1");
    assert_eq!(jobs["started"][0]["worker"], "w-prefix");
    assert_eq!(jobs["finished"][0]["id"], "done1");

    let (_, report) = pitstop.post("/stop", "");
    assert_eq!(report["queued_removed"], 1, "{report}");
    assert_eq!(report["stopped_confirmed"], 1, "{report}");
    wait_until(Duration::from_secs(3), "the horse to be gone", || {
        worker.horses().is_empty()
    });
    assert_eq!(ctl(&["status", "long1"]), "stopped");
    assert_eq!(ctl(&["status", "next1"]), "missing");
}
