//! The Raspberry Pi build (`cross/build.sh`, run by `scripts/test.sh`
//! before the tests): a static aarch64 executable, run here under
//! `qemu-aarch64-static`: `--version`, `serve` answering `/health`, and a
//! plugin action end to end, Cranelift compiling for aarch64 included.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{TempDir, plugin_dir, repo};

fn pi_binary() -> PathBuf {
    let binary = repo().join("target/aarch64-unknown-linux-musl/release/pitstop");
    assert!(
        binary.exists(),
        "{} is missing: run cross/build.sh (scripts/test.sh does)",
        binary.display()
    );
    binary
}

fn qemu() -> Command {
    Command::new("qemu-aarch64-static")
}

#[test]
fn the_pi_binary_is_static_aarch64_and_runs_under_emulation() {
    let binary = pi_binary();
    let kind = Command::new("file")
        .arg("-b")
        .arg(&binary)
        .output()
        .expect("`file` is installed by scripts/test.sh");
    let kind = String::from_utf8_lossy(&kind.stdout).into_owned();
    assert!(kind.contains("ARM aarch64"), "{kind}");
    assert!(
        kind.contains("statically linked") || kind.contains("static-pie linked"),
        "{kind}"
    );
    assert!(
        kind.contains("stripped") && !kind.contains("not stripped"),
        "{kind}"
    );

    let out = qemu()
        .arg(&binary)
        .arg("--version")
        .output()
        .expect("qemu-aarch64-static is installed by scripts/test.sh");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pitstop {}", env!("CARGO_PKG_VERSION"))
    );

    // A plugin action end to end: clean_logs on a real file.
    let dir = TempDir::new("pi");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("bot.log");
    std::fs::write(
        &log,
        (0..3000).map(|i| format!("line {i}\n")).collect::<String>(),
    )
    .unwrap();
    let config = dir.path().join("actions.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nplugin_dir = \"{}\"\ncache_dir = \"cache\"\n\
             [actions.clean_logs]\nkind = \"maintenance\"\nplugin = \"clean_logs\"\ntimeout = \"120s\"\n\
             config = {{ file = \"{}\", keep_lines = 100 }}\ngrants.files = [{{ path = \"{}\", access = \"read-write\" }}]\n",
            plugin_dir().display(),
            log.display(),
            logs.display()
        ),
    )
    .unwrap();
    let out = qemu()
        .arg(&binary)
        .args(["run", "clean_logs", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(said.trim()).unwrap();
    assert_eq!(report["result"]["status"], "success", "{report}");
    assert_eq!(report["result"]["details"]["lines_removed"], 2900);
    let kept = std::fs::read_to_string(&log).unwrap();
    assert!(
        kept.ends_with("line 2999\n") && kept.lines().count() == 101,
        "{kept}"
    );
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        cached
            .iter()
            .any(|n| n.to_string_lossy().contains("aarch64-linux")),
        "compiled for aarch64: {cached:?}"
    );

    // serve answers /health.
    let mut child = qemu()
        .arg(&binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the emulated server listens");
    let health = Command::new("curl")
        .args(["-fsS", "--max-time", "10", &format!("http://{addr}/health")])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(health.status.success());
    let body: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(body["status"], "ok");
}
