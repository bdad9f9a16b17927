//! `/deployment/services/status`: each probe kind, a target that hangs,
//! and Redis going away and coming back.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::{Pitstop, Redis, RqVersion, Worker, config, free_port};

/// A server that answers every connection with `status_line`.
fn http_stub(status_line: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0; 1024];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status_line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

/// A server that accepts connections and never answers.
fn hanging_stub() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[test]
fn each_probe_kind_reports_what_it_sees() {
    let redis = Redis::start();
    let ok = http_stub("200 OK");
    let broken = http_stub("500 Internal Server Error");
    let (_hang, hang) = hanging_stub();
    let closed = free_port();
    let services = format!(
        "[[services]]\nname = \"Redis Bot\"\nprobe = \"redis\"\n\
         [[services]]\nname = \"Bot Worker\"\nprobe = \"rq-worker\"\n\
         [[services]]\nname = \"API\"\nprobe = \"http://127.0.0.1:{ok}/health\"\n\
         [[services]]\nname = \"Broken\"\nprobe = \"http://127.0.0.1:{broken}/\"\n\
         [[services]]\nname = \"Down\"\nprobe = \"http://127.0.0.1:{closed}/\"\n\
         [[services]]\nname = \"Hanging\"\nprobe = \"http://127.0.0.1:{hang}/\"\ntimeout = \"1s\"\n\
         [[services]]\nname = \"Hanging TCP peer\"\nprobe = \"tcp://127.0.0.1:{hang}\"\n\
         [[services]]\nname = \"Closed port\"\nprobe = \"tcp://127.0.0.1:{closed}\"\n"
    );
    let pitstop = Pitstop::start(&config(&redis.url(), &services));

    let status_of = |body: &serde_json::Value, name: &str| {
        let s = body["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone();
        (s["status"].as_str().unwrap().to_string(), s)
    };

    // No worker yet.
    let clock = Instant::now();
    let (code, body) = pitstop.get("/deployment/services/status");
    let took = clock.elapsed();
    assert_eq!(code, 200, "{body}");
    assert!(
        took < Duration::from_secs(5),
        "a hanging target held the answer for {took:?}"
    );
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let names: Vec<_> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Redis Bot",
            "Bot Worker",
            "API",
            "Broken",
            "Down",
            "Hanging",
            "Hanging TCP peer",
            "Closed port"
        ]
    );

    let (status, redis_bot) = status_of(&body, "Redis Bot");
    assert_eq!(status, "running");
    assert!(
        redis_bot["uptime_seconds"].as_u64().is_some(),
        "{redis_bot}"
    );
    assert_eq!(status_of(&body, "Bot Worker").0, "stopped");
    assert_eq!(status_of(&body, "API").0, "running");
    let (status, broken) = status_of(&body, "Broken");
    assert_eq!(status, "error");
    assert_eq!(broken["detail"], "HTTP 500");
    assert_eq!(status_of(&body, "Down").0, "stopped");
    let (status, hanging) = status_of(&body, "Hanging");
    assert_eq!(status, "error");
    assert!(
        hanging["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within 1s"),
        "{hanging}"
    );
    assert_eq!(
        status_of(&body, "Hanging TCP peer").0,
        "running",
        "a TCP probe only needs the connect"
    );
    assert_eq!(status_of(&body, "Closed port").0, "stopped");

    // A live worker makes the worker probe run, with its uptime.
    let worker = Worker::start(&redis, RqVersion::Two, "w-probe");
    let (_, body) = pitstop.get("/deployment/services/status");
    let (status, w) = status_of(&body, "Bot Worker");
    assert_eq!(status, "running", "{w}");
    assert!(w["detail"].as_str().unwrap().contains("w-probe"), "{w}");
    assert!(w["uptime"].as_str().unwrap() != "N/A", "{w}");

    // Killed without a goodbye, its hash lingers, but it no longer listens.
    drop(worker);
    let (_, body) = pitstop.get("/deployment/services/status");
    let (status, w) = status_of(&body, "Bot Worker");
    assert_eq!(status, "stopped", "{w}");
}

#[test]
fn redis_down_then_back_without_restarting_pitstop() {
    let mut redis = Redis::start();
    let pitstop = Pitstop::start(&config(
        &redis.url(),
        "[[services]]\nname = \"Redis Bot\"\nprobe = \"redis\"\n",
    ));
    redis.cmd::<i64>(&["RPUSH", "rq:queue:linkedin-bot", "a"]);
    let (status, _) = pitstop.get("/deployment/jobs");
    assert_eq!(status, 200);

    redis.stop();
    let (status, body) = pitstop.get("/deployment/jobs");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().starts_with("redis: "),
        "{body}"
    );
    let (status, body) = pitstop.get("/deployment/services/status");
    assert_eq!(status, 200);
    assert_eq!(body["services"][0]["status"], "stopped");
    assert!(pitstop.health_ok());
    let (_, metrics) = pitstop.request_text("GET", "/metrics", Some(crate::support::KEY), None);
    assert!(metrics.contains("pitstop_redis_up 0"), "{metrics}");

    redis.restart();
    redis.cmd::<i64>(&["RPUSH", "rq:queue:linkedin-bot", "b", "c"]);
    let (status, body) = pitstop.get("/deployment/jobs");
    assert_eq!(
        status, 200,
        "the first request after Redis is back succeeds: {body}"
    );
    assert_eq!(body["counts"]["queued"], 2);
    let (_, body) = pitstop.get("/deployment/services/status");
    assert_eq!(body["services"][0]["status"], "running");
}
