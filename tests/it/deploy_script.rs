//! `scripts/deploy.sh` (the seed's script) on real git repositories with a
//! bare remote. `docker compose` cannot run here, so `COMPOSE` points at a
//! stand-in that records its calls and reports the services it is told
//! are running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{TempDir, git, push, repo, repos};

/// Records calls in `calls.log`; `ps --services` lists `api` and
/// `bot-worker` (or just the named one); `--status running` leaves out
/// those listed in `down`; `build` fails when `fail-build` exists.
fn stand_in(root: &Path) -> PathBuf {
    let script = root.join("compose");
    let r = root.display();
    std::fs::write(
        &script,
        format!(
            r#"#!/usr/bin/env bash
# Stand-in for `docker compose` (no Docker engine runs on test machines).
echo "$*" >> '{r}/calls.log'
case "$1" in
  build) [ -e '{r}/fail-build' ] && {{ echo "build failed" >&2; exit 1; }}; echo "built" ;;
  ps)
    shift; running=0; names=()
    for a in "$@"; do case "$a" in --services) ;; --status) ;; running) running=1 ;; *) names+=("$a") ;; esac; done
    [ ${{#names[@]}} -eq 0 ] && names=(api bot-worker)
    for n in "${{names[@]}}"; do
      if [ $running -eq 1 ] && grep -qx "$n" '{r}/down' 2>/dev/null; then continue; fi
      echo "$n"
    done ;;
  logs) echo "api | started"; echo "bot-worker | listening on linkedin-bot" ;;
esac
exit 0
"#
        ),
    )
    .unwrap();
    crate::support::make_executable(&script);
    script
}

fn deploy(
    root: &Path,
    app: &Path,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> (Output, Vec<String>) {
    let _ = std::fs::remove_file(root.join("calls.log"));
    let out = Command::new(repo().join("scripts/deploy.sh"))
        .args(args)
        .env("COMPOSE", root.join("compose"))
        .env("APP_DIR", app)
        .env("HEALTH_TIMEOUT", "2")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .envs(extra_env.iter().copied())
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(root.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    (out, calls)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn full_run_pulls_stashes_rebuilds_restarts_checks_and_shows_logs() {
    let dir = TempDir::new("deploy-sh");
    let root = dir.path();
    let repos = repos(root);
    stand_in(root);
    let new = push(&repos, "bot.py", "print('v2')\n", "v2");
    std::fs::write(repos.app.join("status"), "edited on the pi\n").unwrap();

    let (out, calls) = deploy(root, &repos.app, &[], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("local changes stashed"), "{said}");
    assert!(said.contains(&format!("-> {}", &new[..12])), "{said}");
    assert!(
        said.contains("bot-worker | listening"),
        "recent logs are shown: {said}"
    );
    assert_eq!(git(&repos.app, &["rev-parse", "HEAD"]), new);
    assert!(
        git(&repos.app, &["stash", "show", "-p", "stash@{0}"]).contains("edited on the pi"),
        "the change is kept"
    );
    assert_eq!(
        calls,
        [
            "build",
            "up -d",
            "ps --services",
            "ps --services --status running",
            "logs --tail 30"
        ]
    );
}

#[test]
fn each_option_changes_exactly_its_step() {
    let dir = TempDir::new("deploy-sh-options");
    let root = dir.path();
    let repos = repos(root);
    stand_in(root);
    let before = git(&repos.app, &["rev-parse", "HEAD"]);
    push(&repos, "bot.py", "print('v2')\n", "v2");

    let (out, calls) = deploy(root, &repos.app, &["--no-pull"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        git(&repos.app, &["rev-parse", "HEAD"]),
        before,
        "--no-pull leaves the code"
    );
    assert_eq!(calls[..2], ["build", "up -d"]);

    let (out, calls) = deploy(root, &repos.app, &["--no-pull", "--no-rebuild"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        calls[0], "restart",
        "--no-rebuild restarts without building: {calls:?}"
    );
    assert!(!calls.iter().any(|c| c.starts_with("build")));

    let (out, calls) = deploy(
        root,
        &repos.app,
        &["--no-pull", "--no-rebuild", "--service", "bot-worker"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        calls,
        [
            "restart bot-worker",
            "ps --services bot-worker",
            "ps --services --status running bot-worker",
            "logs --tail 30 bot-worker"
        ]
    );

    let (out, calls) = deploy(root, &repos.app, &["--service=api", "--no-pull"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(calls[..2], ["build api", "up -d api"]);
}

#[test]
fn failures_stop_the_script_with_a_clear_message() {
    let dir = TempDir::new("deploy-sh-fail");
    let root = dir.path();
    let repos = repos(root);
    stand_in(root);

    std::fs::write(root.join("fail-build"), "").unwrap();
    let (out, calls) = deploy(root, &repos.app, &["--no-pull"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("deploy.sh: FAILED:") && text(&out).contains("build"),
        "{}",
        text(&out)
    );
    assert_eq!(calls, ["build"], "nothing runs after a failed step");
    std::fs::remove_file(root.join("fail-build")).unwrap();

    std::fs::write(root.join("down"), "bot-worker\n").unwrap();
    let (out, _) = deploy(root, &repos.app, &["--no-pull", "--no-rebuild"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out);
    assert!(
        said.contains("not running: bot-worker") && said.contains("not healthy after 2s"),
        "{said}"
    );
    std::fs::remove_file(root.join("down")).unwrap();

    // A diverged branch: pull --ff-only refuses, the script says so.
    std::fs::write(repos.app.join("bot.py"), "local\n").unwrap();
    git(&repos.app, &["commit", "-qam", "local commit"]);
    push(&repos, "bot.py", "remote\n", "remote commit");
    let (out, calls) = deploy(root, &repos.app, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("git pull --ff-only"), "{}", text(&out));
    assert!(
        calls.is_empty(),
        "no rebuild after a failed pull: {calls:?}"
    );

    let (out, _) = deploy(root, &repos.app, &["--help"], &[]);
    assert!(out.status.success());
    for option in [
        "--no-pull",
        "--no-rebuild",
        "--service NAME",
        "--help",
        "COMPOSE",
    ] {
        assert!(text(&out).contains(option), "--help lacks {option}");
    }
    let (out, _) = deploy(root, &repos.app, &["--frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = deploy(root, &repos.app, &["--service"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_shell_scripts_are_shellcheck_clean() {
    let scripts: Vec<PathBuf> = std::fs::read_dir(repo().join("scripts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .chain(
            std::fs::read_dir(repo().join("cross"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "sh")),
        )
        .chain([repo().join(".ci/run")])
        .collect();
    assert!(scripts.len() >= 5, "{scripts:?}");
    let out = Command::new("shellcheck")
        .args(&scripts)
        .output()
        .expect("shellcheck not found: scripts/test.sh installs it");
    assert!(out.status.success(), "{}", text(&out));
}
