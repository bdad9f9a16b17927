//! The widget in a real browser: headless Debian Chromium driven by
//! playwright-core (`tests/widget/widget.mjs`) against the real binary, a
//! real Redis and a real RQ worker. The screenshots it takes at phone and
//! laptop widths are saved in `docs/screenshots/` for the README.

use std::process::Command;
use std::time::Duration;

use crate::support::{
    KEY, Pitstop, Redis, RqVersion, TempDir, Worker, plugin_config, repo, wait_until,
};

fn node(args: &[&str]) -> (bool, String) {
    let script = repo().join("tests/widget/widget.mjs");
    assert!(
        repo()
            .join("tests/widget/node_modules/playwright-core")
            .is_dir(),
        "tests/widget/node_modules is missing: run scripts/test.sh (npm ci there)"
    );
    let out = Command::new("node")
        .arg(&script)
        .args(args)
        .output()
        .expect("node is needed for the widget tests");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_widget_in_a_real_browser() {
    let mut redis = Redis::start();
    let version = RqVersion::Two;
    let ctl = |args: &[&str]| version.ctl(&redis, args);
    ctl(&["enqueue", "done1", "fast", "1"]);
    ctl(&["enqueue", "bad1", "boom"]);
    ctl(&["enqueue", "long1", "slow", "60"]);
    let worker = Worker::start(&redis, version, "w-widget");
    wait_until(Duration::from_secs(30), "long1 to start", || {
        ctl(&["status", "long1"]) == "started"
    });
    for id in ["next1", "next2", "next3"] {
        ctl(&["enqueue", id, "slow", "60"]);
    }
    let dir = TempDir::new("widget");
    let actions = "[[services]]\nname = \"Redis Bot\"\nprobe = \"redis\"\n\
        [[services]]\nname = \"Bot Worker\"\nprobe = \"rq-worker\"\n\
        [actions.clean_finished_jobs]\nkind = \"maintenance\"\nplugin = \"clean_finished_jobs\"\n\
        description = \"Delete finished and failed jobs\"\nconfig = { queue = \"linkedin-bot\" }\n\
        grants.redis = { commands = [\"ZRANGE\", \"ZREM\", \"DEL\"], keys = [\"rq:finished:linkedin-bot\", \"rq:failed:linkedin-bot\", \"rq:job:*\", \"rq:results:*\", \"rq:executions:*\"] }\n";
    let pitstop = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        actions,
    ));
    let url = format!("http://{}/", pitstop.addr);
    let shots = repo().join("docs/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (ok, said) = node(&["wrong-key", &url]);
    assert!(ok, "{said}");
    let (ok, said) = node(&["main", &url, KEY, shots.to_str().unwrap()]);
    assert!(ok, "{said}\n--- pitstop log ---\n{}", pitstop.log());
    assert!(shots.join("widget-phone.png").exists() && shots.join("widget-laptop.png").exists());
    assert_eq!(
        redis.cmd::<i64>(&["LLEN", "rq:queue:linkedin-bot"]),
        0,
        "the stop emptied the queue"
    );
    assert_eq!(ctl(&["status", "long1"]), "stopped");
    drop(worker);

    redis.stop();
    let (ok, said) = node(&["redis-down", &url, KEY]);
    assert!(ok, "{said}");
}

#[test]
fn the_widget_can_be_embedded_from_an_allowed_origin_only() {
    let redis = Redis::start();
    let pitstop = Pitstop::start(&crate::support::config(
        &redis.url(),
        "[server]\nallowed_origins = [\"http://dashboard.local:3000\"]\n",
    ));
    let script = pitstop
        .raw(b"GET /widget/pitstop-widget.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(script.starts_with("HTTP/1.1 200"), "{script}");
    assert!(
        script
            .to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{script}"
    );
    assert!(script.contains("customElements.define(\"pitstop-widget\""));
    let page = pitstop.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        page.contains("<pitstop-widget>")
            && page
                .to_ascii_lowercase()
                .contains("content-security-policy"),
        "{page}"
    );

    let preflight = |origin: &str| {
        pitstop.raw(
            format!(
                "OPTIONS /deployment/jobs HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
                 Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-api-key\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let allowed = preflight("http://dashboard.local:3000");
    assert!(allowed.starts_with("HTTP/1.1 204"), "{allowed}");
    let lower = allowed.to_ascii_lowercase();
    assert!(
        lower.contains("access-control-allow-origin: http://dashboard.local:3000"),
        "{allowed}"
    );
    assert!(
        lower.contains("access-control-allow-headers: x-api-key, content-type"),
        "{allowed}"
    );
    let refused = preflight("http://evil.example");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(
        !refused
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{refused}"
    );

    // The real request from the allowed origin carries the header; from
    // another origin it does not (the browser then hides the answer).
    let get = |origin: &str| {
        pitstop.raw(
            format!("GET /deployment/jobs HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nX-API-Key: {KEY}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    assert!(
        get("http://dashboard.local:3000")
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: http://dashboard.local:3000")
    );
    assert!(
        !get("http://evil.example")
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );
}
