//! `vacuum_db`: back the database up (online, while the bot may use it),
//! then VACUUM it, and report the size before and after.
//!
//! The host opens the database with a busy timeout up to the action's
//! deadline: while the bot holds a lock, this waits for it instead of
//! failing, and SQLite's own locking keeps the file consistent.
//!
//! config: `keep_backups` (default 3), `backup` (default true).
//! grants: `sqlite` with `write = true` and a `backups` folder.

use pitstop_sdk::{Report, Request, Result, action, info, progress, sqlite};

fn run(req: &Request) -> Result<Report> {
    let keep = req.u64_or("keep_backups", 3)? as u32;
    let before = size()?;
    let mut report = Report::new("");
    if req.bool_or("backup", true)? {
        progress(10, "backing up the database");
        let name = sqlite::backup(keep)?;
        info(&format!("backup written: {name}"));
        report = report.detail("backup", name);
    }
    progress(50, "VACUUM");
    sqlite::execute("VACUUM", &[])?;
    let after = size()?;
    let integrity = sqlite::query("PRAGMA quick_check", &[])?;
    let ok = integrity
        .first()
        .and_then(|row| row.first())
        .and_then(|v| v.as_str())
        == Some("ok");
    if !ok {
        return Err(format!(
            "the database reports a problem after VACUUM: {integrity:?}"
        ));
    }
    report.message = format!(
        "database optimised ({:.2} MB -> {:.2} MB)",
        mb(before),
        mb(after)
    );
    Ok(report
        .detail("size_before_mb", mb(before))
        .detail("size_after_mb", mb(after))
        .detail("integrity", "ok"))
}

/// Bytes in use: pages times page size.
fn size() -> Result<u64> {
    let pages = sqlite::query("PRAGMA page_count", &[])?;
    let page_size = sqlite::query("PRAGMA page_size", &[])?;
    let first = |rows: &Vec<Vec<pitstop_sdk::Value>>| {
        rows.first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    };
    Ok(first(&pages) * first(&page_size))
}

fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0
}

action!(run);
