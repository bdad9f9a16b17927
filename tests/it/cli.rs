//! The command line as a person types it.

use crate::support::{KEY, Redis, TempDir, config, free_port, run_cli};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version() {
    let out = run_cli(&["--help"], &[]);
    assert!(out.status.success());
    for needle in [
        "pitstop serve",
        "pitstop status",
        "pitstop stop",
        "pitstop run",
        "pitstop check",
        "EXIT CODES",
        "API_KEY",
    ] {
        assert!(text(&out.stdout).contains(needle), "--help lacks {needle}");
    }
    let out = run_cli(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("pitstop {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run_cli(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown command `frobnicate`"));
    let out = run_cli(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = TempDir::new("cli-config");
    let path = dir.path().join("actions.toml");
    let p = path.to_str().unwrap();
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:8000\"\n\n[redis]\nqueue = \"q\"\ntimeout = \"soon\"\n",
    )
    .unwrap();
    for command in ["check", "serve", "status"] {
        let out = run_cli(&[command, "--config", p], &[]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "{p}:6: key `redis.timeout`: invalid duration `soon`"
            )),
            "{command}: {err}"
        );
    }
    std::fs::write(
        &path,
        "[[services]]\nname = \"API\"\nprobe = \"http://127.0.0.1:1/health\"\nretries = 3\n",
    )
    .unwrap();
    let out = run_cli(&["check", "--config", p], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(":4: key `services.retries`: unknown field `retries`"),
        "{}",
        text(&out.stderr)
    );

    let out = run_cli(
        &[
            "check",
            "--config",
            dir.path().join("missing.toml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read the configuration"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&path, "").unwrap();
    let out = run_cli(&["check", "--config", p], &[("REDIS_URL", "http://nope")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("REDIS_URL: `http://nope` is not a Redis URL"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn serving_beyond_loopback_needs_a_real_key() {
    let dir = TempDir::new("cli-exposure");
    let path = dir.path().join("actions.toml");
    std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:8000\"\n").unwrap();
    let p = path.to_str().unwrap();
    for (key, why) in [
        (None, "`API_KEY` is not set"),
        (Some("short-key"), "shorter than 16 characters"),
        (Some("internal_secret_key"), "the seed's published default"),
    ] {
        let env: Vec<(&str, &str)> = key.map(|k| ("API_KEY", k)).into_iter().collect();
        // serve refuses before binding anything.
        let out = run_cli(&["serve", "--config", p], &env);
        assert_eq!(out.status.code(), Some(2), "{key:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("refusing to listen on 0.0.0.0:8000") && err.contains(why),
            "{key:?}: {err}"
        );
        let out = run_cli(&["check", "--config", p], &env);
        assert_eq!(out.status.code(), Some(2), "check agrees with serve");
    }
    let out = run_cli(&["check", "--config", p], &[("API_KEY", KEY)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // PITSTOP_LISTEN is checked the same way.
    std::fs::write(&path, "").unwrap();
    let out = run_cli(
        &["check", "--config", p],
        &[("PITSTOP_LISTEN", "0.0.0.0:9000")],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn status_and_stop_from_the_command_line() {
    let dir = TempDir::new("cli-status");
    let path = dir.path().join("actions.toml");
    let p = path.to_str().unwrap();
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    std::fs::write(
        &path,
        config(
            &dead,
            "[[services]]\nname = \"Redis Bot\"\nprobe = \"redis\"\n",
        ),
    )
    .unwrap();
    let out = run_cli(&["status", "--json", "--config", p], &[]);
    assert_eq!(out.status.code(), Some(1), "Redis down: status fails");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["services"][0]["status"], "stopped");
    assert!(
        json["jobs"]["error"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
    let out = run_cli(&["stop", "--config", p], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("redis: connection refused"),
        "{}",
        text(&out.stderr)
    );

    let redis = Redis::start();
    std::fs::write(
        &path,
        config(
            &redis.url(),
            "[[services]]\nname = \"Redis Bot\"\nprobe = \"redis\"\n",
        ),
    )
    .unwrap();
    redis.cmd::<i64>(&["RPUSH", "rq:queue:linkedin-bot", "a", "b", "c"]);
    let out = run_cli(&["status", "--config", p], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("3 queued"),
        "{}",
        text(&out.stdout)
    );
    let out = run_cli(&["stop", "--json", "--config", p], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["queued_removed"], 3);
    assert_eq!(report["total"], 3);
    assert_eq!(redis.cmd::<i64>(&["LLEN", "rq:queue:linkedin-bot"]), 0);

    let out = run_cli(&["run", "clean_logs", "--config", p], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown action `clean_logs`"));
}

#[test]
fn the_bundled_configuration_checks_clean() {
    crate::support::plugin_dir();
    let dir = TempDir::new("bundled");
    // The bundled file, in a temp folder: plugins from the build, the
    // plugin cache beside it.
    let source = std::fs::read_to_string(crate::support::repo().join("actions.toml")).unwrap();
    let plugins = crate::support::plugin_dir();
    let path = dir.path().join("actions.toml");
    std::fs::write(
        &path,
        source.replace(
            "\"target/plugins\"",
            &format!("{:?}", plugins.display().to_string()),
        ),
    )
    .unwrap();
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for action in [
        "clean_logs",
        "clean_queue",
        "clean_finished_jobs",
        "vacuum_db",
        "pull",
        "rebuild",
        "restart",
        "full_deploy",
    ] {
        assert!(
            stdout.contains(&format!("  {action}: ok (")),
            "{action}: {stdout}"
        );
    }
}
