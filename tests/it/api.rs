//! The HTTP API's contract outside of RQ: keys, errors, robustness.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{KEY, Pitstop, Redis, config, free_port};

/// A Redis URL where nothing listens.
fn no_redis() -> String {
    format!("redis://127.0.0.1:{}/0", free_port())
}

#[test]
fn health_answers_without_key_and_without_redis() {
    let pitstop = Pitstop::start(&config(&no_redis(), ""));
    let (status, body) = pitstop.request("GET", "/health", None, None);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    let (status, body) = pitstop.get("/deployment/jobs");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], 503);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{body}"
    );
}

#[test]
fn every_endpoint_but_health_needs_the_key() {
    let pitstop = Pitstop::start(&config(&no_redis(), ""));
    for (method, path) in [
        ("GET", "/deployment/services/status"),
        ("GET", "/deployment/jobs"),
        ("GET", "/deployment/actions"),
        ("GET", "/deployment/history"),
        ("GET", "/deployment/runs/x"),
        ("GET", "/metrics"),
        ("POST", "/deployment/maintenance"),
        ("POST", "/deployment/deploy"),
        ("POST", "/stop"),
    ] {
        let (status, body) = pitstop.request(method, path, None, Some("{}"));
        assert_eq!(status, 401, "{method} {path} without key: {body}");
        assert_eq!(body["error"], "missing `X-API-Key` header");
        let (status, body) = pitstop.request(method, path, Some("wrong-key-wrong-key"), Some("{}"));
        assert_eq!(status, 401, "{method} {path} with a wrong key: {body}");
        assert_eq!(body["error"], "wrong API key");
        // A prefix of the right key is as wrong as any other.
        let (status, _) = pitstop.request(method, path, Some(&KEY[..KEY.len() - 1]), Some("{}"));
        assert_eq!(status, 401);
    }
    let (status, body) = pitstop.get("/deployment/actions");
    assert_eq!(status, 200);
    assert_eq!(body["actions"], serde_json::json!([]));
    let (status, _) = pitstop.request_text("GET", "/", None, None);
    assert_eq!(status, 200, "the widget page needs no key");
}

#[test]
fn without_a_configured_key_everything_is_refused_and_says_why() {
    let pitstop = Pitstop::start_with_env(&config(&no_redis(), ""), &[]);
    let (status, body) =
        pitstop.request("GET", "/deployment/jobs", Some("anything-at-all-123"), None);
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("set `API_KEY`"),
        "{body}"
    );
    assert!(pitstop.health_ok());
}

#[test]
fn metrics_can_be_opened_to_a_local_prometheus() {
    let redis = Redis::start();
    let pitstop = Pitstop::start(&config(&redis.url(), "[server]\nmetrics = \"open\"\n"));
    redis.cmd::<i64>(&["RPUSH", "rq:queue:linkedin-bot", "a", "b", "c"]);
    assert!(pitstop.health_ok());
    let (status, text) = pitstop.request_text("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(text.contains("pitstop_redis_up 1"), "{text}");
    assert!(
        text.contains("pitstop_rq_jobs{state=\"queued\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("pitstop_http_responses_total{code=\"200\"} 1"),
        "{text}"
    );
}

#[test]
fn malformed_requests_get_json_errors_and_change_nothing() {
    let redis = Redis::start();
    let pitstop = Pitstop::start(&config(&redis.url(), ""));
    redis.cmd::<i64>(&["RPUSH", "rq:queue:linkedin-bot", "keep-me"]);

    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("POST", "/deployment/maintenance", Some(""), 400, "empty"),
        (
            "POST",
            "/deployment/maintenance",
            Some("{not json"),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("{\"action\": \"clean_logs\""),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("[1,2]"),
            422,
            "invalid request",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("\"clean_logs\""),
            422,
            "invalid request",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("{}"),
            422,
            "missing field `action`",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("{\"action\": 7}"),
            422,
            "`action` must be",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("{\"action\": \"\"}"),
            422,
            "`action` must be",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("{\"action\": \"x\", \"colour\": 1}"),
            422,
            "unknown field `colour`",
        ),
        (
            "POST",
            "/deployment/deploy",
            Some("{\"action\": \"pull\", \"service\": 3}"),
            422,
            "`service` must be",
        ),
        (
            "POST",
            "/deployment/deploy",
            Some("{\"action\": \"pull\", \"wait\": \"no\"}"),
            422,
            "`wait` must be",
        ),
        (
            "POST",
            "/deployment/maintenance",
            Some("{\"action\": \"clean_logs\"}"),
            404,
            "unknown action `clean_logs`",
        ),
        (
            "POST",
            "/deployment/deploy",
            Some("{\"action\": \"rm -rf /\"}"),
            404,
            "unknown action `rm -rf /`",
        ),
        ("GET", "/deployment/nope", None, 404, "no such path"),
        (
            "GET",
            "/deployment/jobs?limit=abc",
            None,
            422,
            "`limit` must be a whole number",
        ),
        (
            "GET",
            "/deployment/jobs?limit=100000",
            None,
            422,
            "`limit` must be a whole number",
        ),
        (
            "GET",
            "/deployment/jobs?offset=-1",
            None,
            422,
            "`offset` must be a whole number",
        ),
        (
            "GET",
            "/deployment/history?limit=x",
            None,
            422,
            "`limit` must be",
        ),
        (
            "GET",
            "/deployment/runs/unknown",
            None,
            404,
            "no run `unknown`",
        ),
        ("DELETE", "/stop", None, 405, "use POST"),
        ("GET", "/stop", None, 405, "use POST"),
        ("PUT", "/deployment/jobs", None, 405, "use GET"),
    ];
    for (method, path, body, want, needle) in cases {
        let (status, value) = pitstop.request(method, path, Some(KEY), *body);
        assert_eq!(status, *want, "{method} {path} {body:?}: {value}");
        assert_eq!(
            value["status"], *want,
            "{method} {path}: the body repeats the status"
        );
        let error = value["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(needle),
            "{method} {path} {body:?}: `{error}` lacks `{needle}`"
        );
    }

    // A declared body over the cap is refused before it is read...
    let big = pitstop.raw(
        format!("POST /deployment/maintenance HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n{{").as_bytes(),
    );
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    assert!(big.contains("request body too large"), "{big}");
    // ...and a chunked one is cut off at the cap.
    let mut chunked = format!(
        "POST /deployment/maintenance HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..40 {
        chunked.push_str(&format!("1000\r\n{}\r\n", "a".repeat(4096)));
    }
    chunked.push_str("0\r\n\r\n");
    let response = pitstop.raw(chunked.as_bytes());
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    // Garbage that is not HTTP at all, a header flood, a bad path, a
    // half-sent request: none of it takes the server down.
    for junk in [
        &b"\x00\x01\x02\xff\xfe garbage\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /%ff%fe%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /stop HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
    ] {
        let mut stream = TcpStream::connect(pitstop.addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(junk);
        drop(stream);
    }
    let mut flood = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..2000 {
        flood.push_str(&format!("X-Header-{i}: {}\r\n", "v".repeat(100)));
    }
    flood.push_str("Connection: close\r\n\r\n");
    let _ = pitstop.raw(flood.as_bytes());

    assert!(pitstop.health_ok());
    let queued: Vec<String> = redis.cmd(&["LRANGE", "rq:queue:linkedin-bot", "0", "-1"]);
    assert_eq!(queued, ["keep-me"], "no bad request may touch the queue");
    let (_, history) = pitstop.get("/deployment/history");
    assert_eq!(
        history["runs"],
        serde_json::json!([]),
        "no bad request is recorded as a run"
    );
}

#[test]
fn hundreds_of_idle_connections_do_not_stop_health() {
    let pitstop = Pitstop::start(&config(&no_redis(), ""));
    let mut idle = Vec::new();
    for i in 0..400 {
        let mut stream = TcpStream::connect(pitstop.addr).unwrap();
        if i % 2 == 0 {
            // Half of them start a request and never finish it.
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
        }
        idle.push(stream);
    }
    assert!(pitstop.health_ok());
    let (status, _) = pitstop.get("/deployment/actions");
    assert_eq!(status, 200);
    drop(idle);
    assert!(pitstop.health_ok());
}

#[test]
fn running_out_of_descriptors_is_survived() {
    // tiny_http's accept loop ends on its first accept error, or panics
    // when it cannot duplicate an accepted socket; pitstop must accept
    // again by itself once the flood is gone.
    let pitstop = Pitstop::start_with_fd_limit(&config(&no_redis(), ""), 48);
    let mut flood = Vec::new();
    for _ in 0..80 {
        match TcpStream::connect(pitstop.addr) {
            Ok(stream) => flood.push(stream),
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        pitstop.log().contains("Too many open files"),
        "the flood did exhaust the descriptors:\n{}",
        pitstop.log()
    );
    drop(flood);
    crate::support::wait_until(Duration::from_secs(15), "/health to answer again", || {
        pitstop.try_health()
    });
    let (status, _) = pitstop.get("/deployment/actions");
    assert_eq!(status, 200);
    assert!(
        pitstop.log().contains("the HTTP accept loop stopped"),
        "the accept loop's end was logged:\n{}",
        pitstop.log()
    );
    crate::support::wait_until(Duration::from_secs(5), "the log to say so", || {
        pitstop.log().contains("accepting connections on http://")
            && pitstop.log().contains(" again")
    });
}

#[test]
fn history_records_the_emergency_stop_with_who_and_when() {
    let redis = Redis::start();
    let pitstop = Pitstop::start(&config(&redis.url(), ""));
    redis.cmd::<i64>(&["RPUSH", "rq:queue:linkedin-bot", "j1", "j2"]);
    let (status, stop) = pitstop.post("/stop", "");
    assert_eq!(status, 200, "{stop}");
    let (status, history) = pitstop.get("/deployment/history");
    assert_eq!(status, 200);
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{history}");
    let run = &runs[0];
    assert_eq!(run["action"], "emergency_stop");
    assert_eq!(run["kind"], "stop");
    assert_eq!(run["client"], "127.0.0.1");
    assert_eq!(run["status"], "success");
    assert_eq!(run["details"]["queued_removed"], 2);
    assert!(run["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .starts_with("2 queued job(s) removed"),
        "{run}"
    );

    // A stop that fails (Redis gone) is recorded too, as an error.
    drop(redis);
    let (status, body) = pitstop.post("/stop", "");
    assert_eq!(status, 503, "{body}");
    let (_, history) = pitstop.get("/deployment/history?limit=1");
    assert_eq!(history["runs"][0]["status"], "error");
    assert_eq!(history["runs"].as_array().unwrap().len(), 1);
}
