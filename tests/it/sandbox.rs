//! Hostile plugins (`tests/plugins/hostile`): each attack on the sandbox
//! fails with the right cause named, nothing outside the grants changes,
//! and the server answers `/health` throughout.

use std::io::Read;
use std::net::TcpListener;

use serde_json::Value;

use crate::support::{Pitstop, Redis, TempDir, plugin_config};

/// A server that accepts and answers 200; it must never see a request.
fn forbidden_server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    (listener, port)
}

#[test]
fn hostile_plugins_are_stopped_and_named() {
    let redis = Redis::start();
    redis.cmd::<String>(&["SET", "secret", "the-api-key"]);
    let dir = TempDir::new("sandbox");
    let root = dir.path();
    for sub in ["granted", "readonly", "outside", "data"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("outside/secret.txt"), "top secret").unwrap();
    std::fs::write(root.join("readonly/keep.txt"), "keep me").unwrap();
    std::os::unix::fs::symlink(root.join("outside/secret.txt"), root.join("granted/link")).unwrap();
    std::os::unix::fs::symlink(root.join("outside"), root.join("granted/dirlink")).unwrap();
    let db = root.join("data/app.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let other_db = root.join("outside/other.db");
    rusqlite::Connection::open(&other_db)
        .unwrap()
        .execute_batch("CREATE TABLE secrets (x);")
        .unwrap();
    let (forbidden, forbidden_port) = forbidden_server();
    let pwned = root.join("outside/pwned");

    let r = root.display();
    let action = |name: &str, mode: &str, target: &str, extra: &str| {
        format!(
            "[actions.{name}]\nkind = \"maintenance\"\nplugin = \"hostile\"\ntimeout = \"2s\"\nmemory = \"16MiB\"\noutput = \"16KiB\"\n\
             config = {{ mode = \"{mode}\", target = \"{target}\" }}\n\
             grants.files = [{{ path = \"{r}/granted\", access = \"read-write\" }}, {{ path = \"{r}/readonly\", access = \"read-only\" }}]\n\
             grants.redis = {{ commands = [\"GET\", \"LLEN\"], keys = [\"rq:*\"] }}\n\
             grants.sqlite = {{ path = \"{r}/data/app.db\" }}\n\
             grants.commands = [[\"echo\", \"hi\"], [\"sleep\", \"30\"]]\n\
             grants.http = [\"http://127.0.0.1:1\"]\n{extra}\n"
        )
    };
    let cases: Vec<(&str, &str, String, &str, u16, &str, &str)> = vec![
        // name, mode, target, extra toml, HTTP status, cause, text in the error
        (
            "abs",
            "read",
            format!("{r}/outside/secret.txt"),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "dotdot",
            "read",
            format!("{r}/granted/../outside/secret.txt"),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "symlink",
            "read",
            format!("{r}/granted/link"),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "dirlink",
            "read",
            format!("{r}/granted/dirlink/secret.txt"),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "etc",
            "read",
            "/etc/passwd".into(),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "root",
            "list-root",
            String::new(),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "ro",
            "write",
            format!("{r}/readonly/keep.txt"),
            "",
            500,
            "plugin error",
            "blocked",
        ),
        (
            "env",
            "env",
            String::new(),
            "",
            500,
            "plugin error",
            "blocked: the environment is empty",
        ),
        (
            "loop",
            "loop",
            String::new(),
            "",
            504,
            "timeout",
            "stopped at its time limit",
        ),
        (
            "memory",
            "memory",
            String::new(),
            "",
            500,
            "memory",
            "memory limit of 16 MiB",
        ),
        (
            "stdout",
            "stdout",
            String::new(),
            "",
            500,
            "output",
            "output limit of 16 KiB",
        ),
        (
            "log",
            "log",
            String::new(),
            "",
            500,
            "output",
            "output limit of 16 KiB",
        ),
        ("trap", "trap", String::new(), "", 500, "trap", "crashed"),
        (
            "slow_host_call",
            "sleep-in-host",
            String::new(),
            "",
            504,
            "timeout",
            "killed at the action's deadline",
        ),
        (
            "flushall",
            "redis-command",
            String::new(),
            "",
            500,
            "denied",
            "`grants.redis.commands` does not include `FLUSHALL`",
        ),
        (
            "redis_key",
            "redis-key",
            String::new(),
            "",
            500,
            "denied",
            "`grants.redis.keys` does not cover the key `secret`",
        ),
        (
            "attach",
            "attach",
            other_db.display().to_string(),
            "",
            500,
            "denied",
            "ATTACH is not allowed",
        ),
        (
            "sqlite_write",
            "sqlite-write",
            String::new(),
            "",
            500,
            "denied",
            "`grants.sqlite.write` is not true",
        ),
        (
            "command",
            "command",
            pwned.display().to_string(),
            "",
            500,
            "denied",
            "`grants.commands` does not include [\"sh\"",
        ),
        (
            "http",
            "http",
            format!("http://127.0.0.1:{forbidden_port}/"),
            "",
            500,
            "denied",
            "`grants.http` does not include `http://127.0.0.1:",
        ),
        (
            "trim",
            "trim",
            format!("{r}/outside/secret.txt"),
            "",
            500,
            "denied",
            "no read-write `grants.files` entry covers",
        ),
    ];
    let toml: String = cases
        .iter()
        .map(|(name, mode, target, extra, ..)| action(name, mode, target, extra))
        .collect();
    let pitstop = Pitstop::start(&plugin_config(&redis.url(), &root.join("cache"), &toml));

    for (name, mode, _, _, status, cause, needle) in &cases {
        let (code, body) = pitstop.post(
            "/deployment/maintenance",
            &format!("{{\"action\": \"{name}\"}}"),
        );
        assert_eq!(code, *status, "{name} ({mode}): {body}");
        assert_eq!(body["cause"], *cause, "{name} ({mode}): {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("action `{name}` failed in phase ")),
            "{name}: {error}"
        );
        assert!(
            error.contains(needle),
            "{name} ({mode}): `{error}` lacks `{needle}`"
        );
        assert!(
            !error.contains("escaped"),
            "{name}: the sandbox leaked: {error}"
        );
        if *cause == "denied" {
            assert_eq!(body["phase"], "host-call", "{name}: {body}");
            assert!(
                body["details"]["denied"]
                    .as_str()
                    .unwrap()
                    .contains("grants."),
                "{name}: {body}"
            );
        }
        assert!(pitstop.health_ok(), "/health after {name}");
    }

    // Nothing outside the grants changed.
    assert_eq!(
        std::fs::read_to_string(root.join("outside/secret.txt")).unwrap(),
        "top secret"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("readonly/keep.txt")).unwrap(),
        "keep me"
    );
    assert!(!pwned.exists(), "a command outside the allowlist ran");
    assert_eq!(
        redis.cmd::<String>(&["GET", "secret"]),
        "the-api-key",
        "FLUSHALL was refused"
    );
    let tables: Vec<String> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn.prepare("SELECT name FROM sqlite_master").unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(tables, ["t"], "the read-only database was not written");
    let mut buf = [0u8; 1];
    let reached = forbidden
        .accept()
        .map(|(mut s, _)| s.read(&mut buf))
        .is_ok();
    assert!(!reached, "the forbidden HTTP server was contacted");

    // Every attempt is in the history, as an error with its cause.
    let (_, history) = pitstop.get("/deployment/history?limit=100");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), cases.len());
    assert!(runs.iter().all(|r| r["status"] != "success"), "{history}");
    let flush = runs.iter().find(|r| r["action"] == "flushall").unwrap();
    assert_eq!(flush["details"]["cause"], "denied");
    assert!(pitstop.log().contains("FLUSHALL"), "denials are logged");
}

#[test]
fn check_names_a_plugin_whose_imports_its_grants_cannot_serve() {
    let dir = TempDir::new("check");
    let path = dir.path().join("actions.toml");
    let cache = dir.path().join("cache");
    let toml = plugin_config(
        "redis://127.0.0.1:1/0",
        &cache,
        "[actions.rebuild]\nkind = \"deploy\"\nplugin = \"rebuild\"\n\n\
         [actions.clean_finished_jobs]\nkind = \"maintenance\"\nplugin = \"clean_finished_jobs\"\n\
         grants.redis = { commands = [\"ZRANGE\"], keys = [\"rq:*\"] }\n\n\
         [actions.missing]\nkind = \"maintenance\"\nplugin = \"no_such_plugin\"\n",
    );
    std::fs::write(&path, toml).unwrap();
    let out = crate::support::run_cli(&["check", "--config", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("rebuild: FAILED: it imports `pitstop:action/process@0.1.0` but the action has no `grants.commands`"), "{stdout}");
    assert!(stdout.contains("clean_finished_jobs: ok"), "{stdout}");
    assert!(
        stdout.contains("missing: FAILED: action `missing` failed in phase load"),
        "{stdout}"
    );

    // Not a component at all.
    std::fs::write(dir.path().join("bogus.wasm"), b"\0asm not really").unwrap();
    std::fs::write(&path, format!("[actions.bogus]\nkind = \"maintenance\"\nplugin = \"bogus.wasm\"\n[server]\ncache_dir = \"{}\"\n", cache.display())).unwrap();
    let out = crate::support::run_cli(&["check", "--config", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("bogus: FAILED: action `bogus` failed in phase compile"),
        "{stdout}"
    );
}

#[test]
fn grants_that_cannot_be_checked_are_config_errors() {
    let dir = TempDir::new("grant-errors");
    let path = dir.path().join("actions.toml");
    for (toml, needle) in [
        (
            "[actions.a]\nkind = \"maintenance\"\nplugin = \"x\"\ngrants.redis = { commands = [\"EVAL\"], keys = [\"*\"] }\n",
            ":4: key `actions.a.grants.redis`: action `a`: `EVAL` cannot be granted",
        ),
        (
            "[actions.a]\nkind = \"cleanup\"\nplugin = \"x\"\n",
            ":2: key `actions.a.kind`: action `a`: `cleanup` is not a kind",
        ),
        (
            "[actions.a]\nkind = \"deploy\"\nplugin = \"x\"\ngrants.files = [{ path = \"/\", access = \"read-write\" }]\n",
            "granting the whole filesystem is refused",
        ),
        (
            "[actions.a]\nkind = \"deploy\"\nplugin = \"x\"\ngrants.commands = [[\"dc\", \"{service}\"]]\n",
            "`{service}` names no declared parameter",
        ),
        (
            "[actions.a]\nkind = \"deploy\"\nplugin = \"x\"\ngrants.http = [\"ftp://x\"]\n",
            "is not an http:// or https:// URL",
        ),
        (
            "[actions.a]\nkind = \"deploy\"\nplugin = \"x\"\ntimeout = \"forever\"\n",
            "invalid duration `forever`",
        ),
        (
            "[actions.a]\nkind = \"deploy\"\nplugin = \"x\"\ngrants.sockets = true\n",
            "unknown field `sockets`",
        ),
    ] {
        std::fs::write(&path, toml).unwrap();
        let out = crate::support::run_cli(&["check", "--config", path.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{toml}: `{stderr}` lacks `{needle}`"
        );
    }
    let _: Value = serde_json::json!(null);
}
