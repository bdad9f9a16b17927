//! The default actions against the real things: a large log with a
//! concurrent appender, real RQ jobs in a real Redis, a real SQLite file
//! with a concurrent reader, real git repositories with a bare remote.
//!
//! `docker compose` cannot run on these machines, so the deploy actions'
//! compose command points at a stand-in script (`stand_in_compose`) that
//! records its arguments and plays the part of the stack's health.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::support::{
    Pitstop, Redis, Repos, RqVersion, TempDir, Worker, git, plugin_config, push, repos, wait_until,
};

// ---------------------------------------------------------------------------
// clean_logs

/// `[actions.clean_logs]` keeping `keep` lines of `log`, in folder `logs`.
fn clean_logs_action(log: &Path, logs: &Path, keep: u32) -> String {
    format!(
        "[actions.clean_logs]\nkind = \"maintenance\"\nplugin = \"clean_logs\"\ndescription = \"Keep the last lines\"\n\
         config = {{ file = \"{}\", keep_lines = {keep} }}\ngrants.files = [{{ path = \"{}\", access = \"read-write\" }}]\n",
        log.display(),
        logs.display()
    )
}

#[test]
fn clean_logs_keeps_the_tail_and_loses_nothing_appended_meanwhile() {
    let dir = TempDir::new("clean-logs");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("linkedin_bot.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        for i in 0..200_000 {
            writeln!(
                f,
                "line {i:06} the bot did something worth logging, with some detail"
            )
            .unwrap();
        }
    }
    let size_before = std::fs::metadata(&log).unwrap().len();
    let redis = Redis::start();
    let toml = clean_logs_action(&log, &logs, 1000);
    let pitstop = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        &toml,
    ));

    // The bot keeps appending (O_APPEND, a line per write) all along.
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let appender = {
        let (log, stop, appended) = (log.clone(), Arc::clone(&stop), Arc::clone(&appended));
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                f.write_all(format!("append {n:06} written while cleaning\n").as_bytes())
                    .unwrap();
                n += 1;
                appended.store(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    wait_until(Duration::from_secs(5), "the appender to start", || {
        appended.load(Ordering::Relaxed) > 100
    });
    let (status, body) = pitstop.post("/deployment/maintenance", r#"{"action": "clean_logs"}"#);
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "clean_logs");
    assert_eq!(body["status"], "success");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("log cleaned: kept the last 1000 lines"),
        "{body}"
    );
    let details = &body["details"];
    assert!(
        (details["size_before_mb"].as_f64().unwrap() - size_before as f64 / 1_048_576.0).abs()
            < 0.5,
        "{details}"
    );
    assert!(
        details["size_after_mb"].as_f64().unwrap() < 1.0,
        "{details}"
    );

    // The whole sequence the file has seen: original lines, then appends.
    let total_appended = appended.load(Ordering::Relaxed);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    let marker = lines.next().unwrap().trim_end();
    let removed: u64 = marker
        .strip_prefix("[pitstop] ")
        .and_then(|m| m.strip_suffix(" older lines removed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("first line is not the marker: {marker:?}"));
    assert_eq!(details["lines_removed"], removed);
    let kept: Vec<&str> = lines.collect();
    assert!(kept.len() >= 1000, "kept {} lines", kept.len());
    // What is kept is exactly the tail of the sequence from line `removed`
    // on: no line torn, none lost, none doubled, up to the last append.
    let expected = |i: u64| {
        if i < 200_000 {
            format!("line {i:06} the bot did something worth logging, with some detail")
        } else {
            format!("append {:06} written while cleaning", i - 200_000)
        }
    };
    for (k, line) in kept.iter().enumerate() {
        assert_eq!(
            *line,
            expected(removed + k as u64),
            "line {k} after the cut"
        );
    }
    assert_eq!(
        removed + kept.len() as u64,
        200_000 + total_appended,
        "every appended line is there"
    );
    assert!(text.ends_with('\n'));
    assert!(pitstop.health_ok());
}

// ---------------------------------------------------------------------------
// clean_queue and clean_finished_jobs on real RQ jobs

fn rq_actions() -> String {
    "[actions.clean_queue]\nkind = \"maintenance\"\nplugin = \"clean_queue\"\n\
     config = { queue = \"linkedin-bot\" }\n\
     grants.redis = { commands = [\"EXISTS\", \"RENAME\", \"LRANGE\", \"DEL\"], keys = [\"rq:queue:linkedin-bot*\", \"rq:job:*\", \"rq:results:*\", \"rq:executions:*\"] }\n\n\
     [actions.clean_finished_jobs]\nkind = \"maintenance\"\nplugin = \"clean_finished_jobs\"\n\
     config = { queue = \"linkedin-bot\" }\n\
     grants.redis = { commands = [\"ZRANGE\", \"ZREM\", \"DEL\"], keys = [\"rq:finished:linkedin-bot\", \"rq:failed:linkedin-bot\", \"rq:job:*\", \"rq:results:*\", \"rq:executions:*\"] }\n"
        .to_string()
}

#[test]
fn clean_queue_and_finished_jobs_on_real_rq_jobs() {
    let redis = Redis::start();
    let version = RqVersion::Two;
    let ctl = |args: &[&str]| version.ctl(&redis, args);
    for i in 0..3 {
        ctl(&["enqueue", &format!("ok{i}"), "fast", &i.to_string()]);
    }
    ctl(&["enqueue", "bad0", "boom"]);
    ctl(&["enqueue", "bad1", "boom"]);
    let worker = Worker::start(&redis, version, "w-clean");
    wait_until(Duration::from_secs(30), "five jobs to end", || {
        let rq = version.describe(&redis);
        rq["registries"]["finished"].as_array().unwrap().len() == 3
            && rq["registries"]["failed"].as_array().unwrap().len() == 2
    });
    drop(worker);
    for i in 0..4 {
        ctl(&["enqueue", &format!("q{i}"), "fast", "1"]);
    }
    assert_eq!(redis.cmd::<i64>(&["EXISTS", "rq:results:bad0"]), 1);

    let dir = TempDir::new("rq-actions");
    let pitstop = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        &rq_actions(),
    ));

    let (status, body) = pitstop.post("/deployment/maintenance", r#"{"action": "clean_queue"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["details"]["removed"], 4, "{body}");
    let rq = version.describe(&redis);
    assert_eq!(rq["registries"]["queued"], serde_json::json!([]));
    for i in 0..4 {
        assert_eq!(ctl(&["status", &format!("q{i}")]), "missing");
    }
    assert_eq!(
        rq["registries"]["finished"].as_array().unwrap().len(),
        3,
        "finished jobs are not the queue's"
    );

    let (status, body) = pitstop.post(
        "/deployment/maintenance",
        r#"{"action": "clean_finished_jobs"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["details"]["finished"], 3, "{body}");
    assert_eq!(body["details"]["failed"], 2, "{body}");
    let rq = version.describe(&redis);
    assert_eq!(rq["registries"]["finished"], serde_json::json!([]));
    assert_eq!(rq["registries"]["failed"], serde_json::json!([]));
    for id in ["ok0", "ok1", "ok2", "bad0", "bad1"] {
        assert_eq!(
            redis.cmd::<i64>(&[
                "EXISTS",
                &format!("rq:job:{id}"),
                &format!("rq:results:{id}")
            ]),
            0,
            "{id}"
        );
    }
    // Twice in a row is harmless.
    let (_, body) = pitstop.post(
        "/deployment/maintenance",
        r#"{"action": "clean_finished_jobs"}"#,
    );
    assert_eq!(body["details"]["total"], 0);
    let (_, body) = pitstop.post("/deployment/maintenance", r#"{"action": "clean_queue"}"#);
    assert_eq!(body["details"]["removed"], 0);
}

// ---------------------------------------------------------------------------
// vacuum_db

#[test]
fn vacuum_db_backs_up_then_vacuums_while_the_bot_reads() {
    let dir = TempDir::new("vacuum");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("linkedin_bot.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT, note TEXT);")
            .unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..20_000 {
            tx.execute(
                "INSERT INTO contacts (name, note) VALUES (?1, ?2)",
                rusqlite::params![format!("contact {i}"), "x".repeat(200)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        conn.execute("DELETE FROM contacts WHERE id > 2000", [])
            .unwrap();
    }
    let size_before = std::fs::metadata(&db).unwrap().len();
    let backups = dir.path().join("backups");
    let toml = format!(
        "[actions.vacuum_db]\nkind = \"maintenance\"\nplugin = \"vacuum_db\"\ntimeout = \"20s\"\nconfig = {{ keep_backups = 2 }}\n\
         grants.sqlite = {{ path = \"{}\", write = true, backups = \"{}\" }}\n",
        db.display(),
        backups.display()
    );
    let redis = Redis::start();
    let pitstop = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        &toml,
    ));

    // The bot holds a read transaction for a while: VACUUM must wait for
    // it, not fail and not corrupt anything.
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN").unwrap();
            let n: i64 = conn
                .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
                .unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            conn.execute_batch("COMMIT").unwrap();
            n
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = pitstop.post("/deployment/maintenance", r#"{"action": "vacuum_db"}"#);
    assert_eq!(reader.join().unwrap(), 2000);
    assert_eq!(status, 200, "{body}");
    let details = &body["details"];
    assert_eq!(details["integrity"], "ok");
    assert!(
        details["size_after_mb"].as_f64().unwrap() < details["size_before_mb"].as_f64().unwrap(),
        "{details}"
    );
    assert!(std::fs::metadata(&db).unwrap().len() < size_before / 3);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2000, "no row lost");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // The backup is a whole database with the same rows.
    let backup = backups.join(details["backup"].as_str().unwrap());
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let n: i64 = copy
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2000);
    // Only the newest `keep_backups` are kept.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1100)); // backup names have one-second stamps
        let (status, body) = pitstop.post("/deployment/maintenance", r#"{"action": "vacuum_db"}"#);
        assert_eq!(status, 200, "{body}");
    }
    let kept = std::fs::read_dir(&backups).unwrap().count();
    assert_eq!(kept, 2, "keep_backups = 2");
}

// ---------------------------------------------------------------------------
// Deploy: real git repositories, a stand-in for docker compose

/// Stands in for `docker compose` (no Docker engine runs here): it records
/// every call in `calls.log`, and on `up -d` copies the app's `status` file
/// to `health`, which [`health_server`] serves. `restart` takes a second,
/// so a run can be caught in progress.
fn stand_in_compose(root: &Path) -> PathBuf {
    let script = root.join("compose-stand-in");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# Stand-in for `docker compose`: records its arguments.\n\
             echo \"$*\" >> '{root}/calls.log'\n\
             case \"$1\" in\n  up) cp status '{root}/health' ;;\n  restart) sleep 1 ;;\n  build) echo \"building $2\" ;;\nesac\n",
            root = root.display()
        ),
    )
    .unwrap();
    crate::support::make_executable(&script);
    script
}

/// Answers 200 while `<root>/health` says `ok`, 500 otherwise.
fn health_server(root: &Path) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let file = root.join("health");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let ok = std::fs::read_to_string(&file).is_ok_and(|s| s.trim() == "ok");
            let line = if ok {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

fn calls(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn deploy_config(root: &Path, app: &Path, compose: &Path, health_port: u16, db: &Path) -> String {
    let c = compose.display();
    let git_cmds = r#"["git", "rev-parse", "HEAD"], ["git", "status", "--porcelain"], ["git", "stash", "push", "--include-untracked", "-m", "pitstop: local changes saved before pull"], ["git", "pull", "--ff-only"], ["git", "rev-parse", "ORIG_HEAD"], ["git", "reset", "--hard", "ORIG_HEAD"]"#;
    let env = "env = { GIT_AUTHOR_NAME = \"pitstop\", GIT_AUTHOR_EMAIL = \"pitstop@localhost\", GIT_COMMITTER_NAME = \"pitstop\", GIT_COMMITTER_EMAIL = \"pitstop@localhost\" }";
    format!(
        "[[services]]\nname = \"API\"\nprobe = \"http://127.0.0.1:{health_port}/health\"\ntimeout = \"1s\"\n\n\
         [actions.pull]\nkind = \"deploy\"\nplugin = \"pull\"\nworkdir = \"{app}\"\n{env}\ngrants.commands = [{git_cmds}]\n\n\
         [actions.rebuild]\nkind = \"deploy\"\nplugin = \"rebuild\"\nworkdir = \"{app}\"\nparameters.service = [\"api\", \"worker\", \"dashboard\"]\n\
         config = {{ compose = [\"{c}\"] }}\ngrants.commands = [[\"{c}\", \"build\"], [\"{c}\", \"build\", \"{{service}}\"]]\n\n\
         [actions.restart]\nkind = \"deploy\"\nplugin = \"restart\"\nworkdir = \"{app}\"\nparameters.service = [\"api\", \"worker\", \"dashboard\"]\n\
         config = {{ compose = [\"{c}\"] }}\ngrants.commands = [[\"{c}\", \"restart\"], [\"{c}\", \"restart\", \"{{service}}\"]]\n\n\
         [actions.full_deploy]\nkind = \"deploy\"\nplugin = \"full_deploy\"\nworkdir = \"{app}\"\ntimeout = \"60s\"\n{env}\n\
         config = {{ compose = [\"{c}\"], health_timeout = 3, keep_backups = 2 }}\n\
         grants.commands = [{git_cmds}, [\"{c}\", \"build\"], [\"{c}\", \"up\", \"-d\"]]\n\
         grants.services = true\ngrants.sqlite = {{ path = \"{db}\", backups = \"{root}/backups\" }}\n",
        app = app.display(),
        db = db.display(),
        root = root.display(),
    )
}

fn deploy_setup(name: &str) -> (TempDir, Repos, Redis, Pitstop) {
    let dir = TempDir::new(name);
    let root = dir.path().to_path_buf();
    let repos = repos(&root);
    let compose = stand_in_compose(&root);
    let port = health_server(&root);
    std::fs::write(root.join("health"), "ok").unwrap();
    let db = root.join("bot.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let redis = Redis::start();
    let toml = deploy_config(&root, &repos.app, &compose, port, &db);
    let pitstop = Pitstop::start(&plugin_config(&redis.url(), &root.join("cache"), &toml));
    (dir, repos, redis, pitstop)
}

#[test]
fn pull_stashes_local_changes_and_reports_commits() {
    let (_dir, repos, _redis, pitstop) = deploy_setup("pull");
    let old = git(&repos.app, &["rev-parse", "HEAD"]);
    let new = push(&repos, "bot.py", "print('v2')\n", "v2");
    // Someone edited the app on the Pi, and left a new file.
    std::fs::write(repos.app.join("status"), "ok, edited on the pi\n").unwrap();
    std::fs::write(repos.app.join("notes.txt"), "untracked notes\n").unwrap();

    let (status, body) = pitstop.post("/deployment/deploy", r#"{"action": "pull"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["details"]["old_commit"], old);
    assert_eq!(body["details"]["new_commit"], new);
    assert_eq!(body["details"]["stashed"], true);
    assert!(
        body["output"].as_str().unwrap().contains("Fast-forward"),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("->"), "{body}");
    assert_eq!(git(&repos.app, &["rev-parse", "HEAD"]), new);
    assert_eq!(
        std::fs::read_to_string(repos.app.join("bot.py")).unwrap(),
        "print('v2')\n"
    );
    // The local changes are in the stash, not lost.
    let stash = git(&repos.app, &["stash", "list"]);
    assert!(
        stash.contains("pitstop: local changes saved before pull"),
        "{stash}"
    );
    let saved = git(
        &repos.app,
        &["stash", "show", "-p", "--include-untracked", "stash@{0}"],
    );
    assert!(
        saved.contains("edited on the pi") && saved.contains("untracked notes"),
        "{saved}"
    );

    let (_, body) = pitstop.post("/deployment/deploy", r#"{"action": "pull"}"#);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("already up to date"),
        "{body}"
    );
    assert_eq!(body["details"]["stashed"], false);
}

#[test]
fn rebuild_and_restart_drive_compose_with_the_declared_services_only() {
    let (dir, _repos, _redis, pitstop) = deploy_setup("compose");
    let (status, body) = pitstop.post(
        "/deployment/deploy",
        r#"{"action": "rebuild", "service": "worker"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["output"].as_str().unwrap().contains("building worker"),
        "{body}"
    );
    let (status, body) = pitstop.post("/deployment/deploy", r#"{"action": "rebuild"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "images rebuilt for all services");
    let (status, body) = pitstop.post(
        "/deployment/deploy",
        r#"{"action": "restart", "service": "api"}"#,
    );
    assert_eq!(status, 200, "{body}");
    // A service outside the declared list never reaches the command line.
    let (status, body) = pitstop.post(
        "/deployment/deploy",
        r#"{"action": "restart", "service": "redis; rm -rf /"}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"],
        "`service` must be one of: api, worker, dashboard"
    );
    let (status, _) = pitstop.post(
        "/deployment/deploy",
        r#"{"action": "pull", "service": "api"}"#,
    );
    assert_eq!(status, 422, "pull takes no service");
    let (status, _) = pitstop.post("/deployment/maintenance", r#"{"action": "restart"}"#);
    assert_eq!(
        status, 404,
        "a deploy action is unknown to the maintenance endpoint"
    );
    assert_eq!(calls(dir.path()), ["build worker", "build", "restart api"]);
}

#[test]
fn a_run_can_be_followed_live_and_a_second_one_waits_its_turn() {
    let (dir, _repos, _redis, pitstop) = deploy_setup("live");
    let (status, body) = pitstop.post(
        "/deployment/deploy",
        r#"{"action": "restart", "wait": false}"#,
    );
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap().to_string();
    let (status, again) = pitstop.post("/deployment/deploy", r#"{"action": "restart"}"#);
    assert_eq!(status, 409, "{again}");
    assert!(
        again["error"].as_str().unwrap().contains(&run_id),
        "{again}"
    );
    let (status, live) = pitstop.get(&format!("/deployment/runs/{run_id}"));
    assert_eq!(status, 200);
    assert_eq!(live["status"], "running", "{live}");
    assert_eq!(live["action"], "restart");
    wait_until(Duration::from_secs(10), "the run to end", || {
        pitstop.get(&format!("/deployment/runs/{run_id}")).1["status"] == "success"
    });
    let (_, done) = pitstop.get(&format!("/deployment/runs/{run_id}"));
    assert_eq!(done["progress"], 100);
    assert!(
        done["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"].as_str().unwrap().contains("restart")),
        "{done}"
    );
    assert_eq!(done["result"]["message"], "restarted all services");
    // Now it may run again.
    let (status, _) = pitstop.post("/deployment/deploy", r#"{"action": "restart"}"#);
    assert_eq!(status, 200);
    let (_, history) = pitstop.get("/deployment/history");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "the refused run is not history: {history}");
    assert!(
        runs.iter()
            .all(|r| r["action"] == "restart" && r["status"] == "success" && r["kind"] == "deploy")
    );
    assert!(runs[0]["duration_ms"].as_u64().unwrap() >= 1000);
    assert_eq!(calls(dir.path()), ["restart", "restart"]);
}

#[test]
fn full_deploy_rolls_back_an_unhealthy_commit() {
    let (dir, repos, _redis, pitstop) = deploy_setup("full-deploy");
    let root = dir.path();

    // A good commit: deployed, healthy, every step reported.
    let good = push(&repos, "bot.py", "print('v2')\n", "v2");
    let (status, body) = pitstop.post("/deployment/deploy", r#"{"action": "full_deploy"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["details"]["new_commit"], good);
    assert_eq!(body["details"]["rolled_back"], false);
    let steps: Vec<&str> = body["details"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["backup", "pull", "rebuild", "restart", "health check"]
    );
    assert_eq!(calls(root), ["build", "up -d"]);
    assert_eq!(
        std::fs::read_dir(root.join("backups")).unwrap().count(),
        1,
        "a backup before deploying"
    );

    // A bad commit: the stack is unhealthy after it, so pitstop goes back.
    let bad = push(&repos, "status", "broken\n", "v3 breaks the health check");
    let (status, body) = pitstop.post("/deployment/deploy", r#"{"action": "full_deploy"}"#);
    assert_eq!(status, 500, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "deploy of {} failed its health check and was rolled back to {} (healthy again)",
            &bad[..12],
            &good[..12]
        )),
        "{error}"
    );
    assert_eq!(
        git(&repos.app, &["rev-parse", "HEAD"]),
        good,
        "back at the previous commit"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("health")).unwrap().trim(),
        "ok"
    );
    assert_eq!(
        calls(root),
        ["build", "up -d", "build", "up -d", "build", "up -d"]
    );
    let (_, run) = pitstop.get(&format!(
        "/deployment/runs/{}",
        body["run_id"].as_str().unwrap()
    ));
    let log: Vec<String> = run["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    for step in [
        "backup:",
        "pull:",
        "rebuild:",
        "restart:",
        "health check: not healthy in time",
        "rollback: back at",
    ] {
        assert!(
            log.iter().any(|l| l.starts_with(step)),
            "`{step}` not in the log: {log:#?}"
        );
    }
    let (_, history) = pitstop.get("/deployment/history?limit=1");
    assert_eq!(history["runs"][0]["status"], "error");
}

#[test]
fn clean_logs_on_a_filesystem_that_cannot_collapse_copies_and_truncates() {
    // tmpfs has no FALLOC_FL_COLLAPSE_RANGE: the host copies instead.
    let shm = Path::new("/dev/shm");
    assert!(shm.is_dir(), "this test needs a tmpfs at /dev/shm");
    let logs = shm.join(format!("pitstop-it-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("bot.log");
    let body: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, &body).unwrap();
    let dir = TempDir::new("clean-logs-copy");
    let redis = Redis::start();
    let toml = clean_logs_action(&log, &logs, 100);
    let pitstop = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        &toml,
    ));
    let (status, body) = pitstop.post("/deployment/maintenance", r#"{"action": "clean_logs"}"#);
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&logs);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["details"]["method"], "copy");
    assert_eq!(body["details"]["lines_removed"], 4900);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap().trim_end(),
        "[pitstop] 4900 older lines removed"
    );
    let kept: Vec<&str> = lines.collect();
    let expected: Vec<String> = (4900..5000).map(|i| format!("line {i}")).collect();
    assert_eq!(kept, expected);
}

#[test]
fn plugins_compile_only_after_health_answers() {
    let dir = TempDir::new("warm");
    let redis = Redis::start();
    let toml: String = ["clean_logs", "clean_queue", "vacuum_db", "pull"]
        .iter()
        .map(|name| format!("[actions.{name}]\nkind = \"maintenance\"\nplugin = \"{name}\"\n"))
        .collect();
    let pitstop = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        &toml,
    ));
    assert!(pitstop.health_ok());
    wait_until(
        Duration::from_secs(30),
        "the plugins to be compiled in the background",
        || pitstop.log().matches("compiled a plugin").count() == 4,
    );
    let log = pitstop.log();
    let listening = log.find("listening on").unwrap();
    let compiled = log.find("compiled a plugin").unwrap();
    assert!(listening < compiled, "{log}");
    // The cache is keyed by content: a second server compiles nothing.
    drop(pitstop);
    let again = Pitstop::start(&plugin_config(
        &redis.url(),
        &dir.path().join("cache"),
        &toml,
    ));
    let (status, _) = again.post("/deployment/maintenance", r#"{"action": "clean_queue"}"#);
    assert_eq!(
        status, 500,
        "clean_queue without grants fails, but it loads"
    );
    assert!(
        !again.log().contains("compiled a plugin"),
        "{}",
        again.log()
    );
}
