//! A plugin that tries, one `config.mode` at a time, everything a plugin
//! must not be able to do. When an attempt works it returns `Ok` with what
//! it got ("escaped: …"), which the tests treat as a sandbox failure; when
//! it is stopped it returns the host's error, or is killed.

use pitstop_sdk::{Report, Request, Result, action, files, http, info, process, redis, sqlite};

fn run(req: &Request) -> Result<Report> {
    let mode = req.str("mode")?;
    let target = req.str_or("target", "")?;
    match mode.as_str() {
        // Files: outside every preopen, by absolute path, `..`, symlink.
        "read" => match std::fs::read_to_string(&target) {
            Ok(text) => Ok(Report::new(format!("escaped: {text}"))),
            Err(e) => Err(format!("blocked: {e}")),
        },
        "write" => match std::fs::write(&target, "pwned") {
            Ok(()) => Ok(Report::new("escaped: wrote the file")),
            Err(e) => Err(format!("blocked: {e}")),
        },
        "list-root" => match std::fs::read_dir("/") {
            Ok(entries) => {
                let names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                Ok(Report::new(format!("escaped: {}", names.join(","))))
            }
            Err(e) => Err(format!("blocked: {e}")),
        },
        "env" => {
            let all: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            if all.is_empty() {
                Err("blocked: the environment is empty".into())
            } else {
                Ok(Report::new(format!("escaped: {}", all.join(" "))))
            }
        }
        // Limits.
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = n.wrapping_add(1);
                std::hint::black_box(n);
            }
        }
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "stdout" => loop {
            println!("flooding stdout with a line that is long enough to fill the pipe quickly");
        },
        "log" => loop {
            info("flooding the log with a line that is long enough to fill the buffer quickly");
        },
        "trap" => {
            let v: Vec<u8> = Vec::new();
            Ok(Report::new(format!("{}", std::hint::black_box(&v)[3])))
        }
        "sleep-in-host" => {
            // A host call that blocks past the deadline: a granted program.
            process::run(&["sleep", "30"]).map(|o| Report::new(format!("slept, exit {}", o.status)))
        }
        // Host calls outside the grants.
        "redis-command" => {
            redis::command(&["FLUSHALL"]).map(|v| Report::new(format!("escaped: {v}")))
        }
        "redis-key" => {
            redis::command(&["GET", "secret"]).map(|v| Report::new(format!("escaped: {v}")))
        }
        "attach" => sqlite::execute(&format!("ATTACH DATABASE '{target}' AS other"), &[])
            .map(|n| Report::new(format!("escaped: attached ({n})"))),
        "sqlite-write" => {
            sqlite::execute("CREATE TABLE pwned (x)", &[]).map(|_| Report::new("escaped: wrote"))
        }
        "command" => process::run(&["sh", "-c", &format!("echo pwned > {target}")])
            .map(|o| Report::new(format!("escaped: {}", o.status))),
        "http" => {
            http::get(&target).map(|(status, _)| Report::new(format!("escaped: HTTP {status}")))
        }
        "trim" => files::trim_front(&target, 1).map(|_| Report::new("escaped: trimmed")),
        other => Err(format!("unknown mode `{other}`")),
    }
}

action!(run);
