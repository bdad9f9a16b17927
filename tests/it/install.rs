//! `scripts/install-pi.sh` into a local root folder standing in for the Pi:
//! first install, upgrade, and the automatic rollback when a new version
//! fails its health check. The bundles are made by `cross/bundle.sh` from
//! the binary under test (built for this machine, so it can really serve);
//! `SYSTEMCTL` points at a stand-in that starts and stops that binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{TempDir, bin, free_port, plugin_dir, repo};

/// Plays systemctl for the local root `$R`: records its calls and, on
/// `restart`, (re)starts the installed pitstop the way the unit would.
fn stand_in_systemctl(dir: &Path) -> PathBuf {
    let script = dir.join("systemctl");
    std::fs::write(
        &script,
        r#"#!/usr/bin/env bash
# Stand-in for systemctl in a local root ($R): runs pitstop like the unit.
echo "$*" >> "$R/systemctl.log"
if [ "$1" = restart ]; then
  if [ -f "$R/run/pitstop.pid" ]; then kill "$(cat "$R/run/pitstop.pid")" 2>/dev/null || true; sleep 0.3; fi
  mkdir -p "$R/run"
  set -a; . "$R/etc/pitstop/pitstop.env"; set +a
  nohup "$R/opt/pitstop/current/pitstop" serve --config "$R/etc/pitstop/actions.toml" >>"$R/run/pitstop.log" 2>&1 &
  echo $! > "$R/run/pitstop.pid"
fi
"#,
    )
    .unwrap();
    crate::support::make_executable(&script);
    script
}

/// A bundle of `binary` as `version`, with a configuration whose paths
/// stay inside the root.
fn bundle(dir: &Path, binary: &Path, version: &str, port: u16) -> PathBuf {
    let config = dir.join(format!("actions-{version}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nstate_db = \"state/pitstop.db\"\n\
             plugin_dir = \"../../opt/pitstop/current/plugins\"\ncache_dir = \"state/cache\"\n"
        ),
    )
    .unwrap();
    let out = Command::new(repo().join("cross/bundle.sh"))
        .args([
            "--binary",
            binary.to_str().unwrap(),
            "--version",
            version,
            "--out",
        ])
        .arg(dir.join("dist"))
        .arg("--plugins")
        .arg(plugin_dir())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn install(root: &Path, systemctl: &Path, bundle: &Path, port: u16, extra: &[&str]) -> Output {
    Command::new(repo().join("scripts/install-pi.sh"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
        ])
        .args([
            "--health-url",
            &format!("http://127.0.0.1:{port}/health"),
            "--health-timeout",
            "10",
        ])
        .args(extra)
        .env("SYSTEMCTL", systemctl)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn current(root: &Path) -> String {
    std::fs::read_link(root.join("opt/pitstop/current"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Kills the pitstop the stand-in started, when the test ends.
struct Running(PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("run/pitstop.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn health(port: u16) -> bool {
    Command::new("curl")
        .args([
            "-fsS",
            "--max-time",
            "2",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/health"),
        ])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn install_upgrade_and_roll_back_into_a_local_root() {
    let dir = TempDir::new("install");
    let root = dir.path().join("pi");
    std::fs::create_dir_all(&root).unwrap();
    let _running = Running(root.clone());
    let systemctl = stand_in_systemctl(dir.path());
    let port = free_port();
    let v1 = bundle(dir.path(), Path::new(bin()), "1.0.0-test1", port);
    let v2 = bundle(dir.path(), Path::new(bin()), "1.0.0-test2", port);
    let broken_binary = dir.path().join("broken");
    std::fs::write(
        &broken_binary,
        "#!/bin/sh\necho 'this release is broken' >&2\nexit 1\n",
    )
    .unwrap();
    crate::support::make_executable(&broken_binary);
    let v3 = bundle(dir.path(), &broken_binary, "1.0.0-test3", port);
    let v4 = bundle(dir.path(), Path::new(bin()), "1.0.0-test4", port);

    // A dry run prints every step and touches nothing.
    let out = install(&root, &systemctl, &v1, port, &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    for step in [
        "verify",
        "ship",
        "unpack",
        "configuration",
        "systemd unit",
        "switch",
        "restart and check",
        "keep the newest",
    ] {
        assert!(
            text(&out).contains(step),
            "dry run lacks `{step}`: {}",
            text(&out)
        );
    }
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "the dry run changed nothing"
    );

    // First install.
    let out = install(&root, &systemctl, &v1, port, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&root), "releases/1.0.0-test1");
    for file in [
        "pitstop",
        "VERSION",
        "actions.toml",
        "pitstop.service",
        "plugins/clean_logs.wasm",
    ] {
        assert!(
            root.join("opt/pitstop/current").join(file).exists(),
            "{file}"
        );
    }
    assert!(health(port), "v1 answers");
    let env = std::fs::read_to_string(root.join("etc/pitstop/pitstop.env")).unwrap();
    let key = env.trim().strip_prefix("API_KEY=").unwrap();
    assert!(key.len() >= 16, "a long random key: {key}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("etc/pitstop/pitstop.env"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the key file is private");
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/pitstop.service")).unwrap();
    for line in [
        "User=pitstop",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/pitstop",
    ] {
        assert!(unit.contains(line), "unit lacks {line}");
    }
    let calls = std::fs::read_to_string(root.join("systemctl.log")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["daemon-reload", "enable pitstop", "restart pitstop"]
    );

    // The operator edits the configuration; an upgrade keeps it.
    let config = root.join("etc/pitstop/actions.toml");
    let edited = format!(
        "{}\n# edited on the pi\n",
        std::fs::read_to_string(&config).unwrap()
    );
    std::fs::write(&config, &edited).unwrap();
    let out = install(&root, &systemctl, &v2, port, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&root), "releases/1.0.0-test2");
    assert!(
        text(&out).contains("previous release: 1.0.0-test1"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        edited,
        "the configuration is kept"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/pitstop/pitstop.env")).unwrap(),
        env,
        "the key is kept"
    );
    assert!(
        root.join("opt/pitstop/releases/1.0.0-test1").is_dir(),
        "the previous release is kept"
    );
    assert!(health(port), "v2 answers");

    // A release that cannot serve: the installer goes back by itself.
    let out = install(&root, &systemctl, &v3, port, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("rolled back to 1.0.0-test2, which answers again"),
        "{}",
        text(&out)
    );
    assert_eq!(current(&root), "releases/1.0.0-test2");
    assert!(health(port), "v2 answers again");
    assert!(
        root.join("opt/pitstop/releases/1.0.0-test3").is_dir(),
        "the failed release stays for a look"
    );

    // The same version twice is nothing to do; a damaged bundle is refused.
    let out = install(&root, &systemctl, &v2, port, &[]);
    assert!(
        out.status.success() && text(&out).contains("nothing to do"),
        "{}",
        text(&out)
    );
    let damaged = dir.path().join("dist/pitstop-1.0.0-test1.tar.gz");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    let out = install(&root, &systemctl, &v1, port, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    assert_eq!(current(&root), "releases/1.0.0-test2");

    // A fourth release: the newest three are kept, the oldest goes.
    let out = install(&root, &systemctl, &v4, port, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("removed 1.0.0-test1"), "{}", text(&out));
    let mut kept: Vec<String> = std::fs::read_dir(root.join("opt/pitstop/releases"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["1.0.0-test2", "1.0.0-test3", "1.0.0-test4"]);
    assert!(health(port));
}
