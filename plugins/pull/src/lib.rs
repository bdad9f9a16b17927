//! `pull`: `git pull --ff-only` in the action's working directory, local
//! changes stashed first (never lost), old and new commit reported.
//!
//! grants: `commands` with the git vectors of `pitstop_sdk::deploy::pull`.

use pitstop_sdk::deploy::{pull, short};
use pitstop_sdk::{Report, Request, Result, action, progress};

fn run(_req: &Request) -> Result<Report> {
    progress(10, "git pull");
    let p = pull()?;
    let message = if p.old_commit == p.new_commit {
        format!("already up to date at {}", short(&p.new_commit))
    } else {
        format!(
            "code updated from git: {} -> {}",
            short(&p.old_commit),
            short(&p.new_commit)
        )
    };
    Ok(Report::new(message)
        .detail("old_commit", p.old_commit)
        .detail("new_commit", p.new_commit)
        .detail("stashed", p.stashed)
        .output(p.output))
}

action!(run);
