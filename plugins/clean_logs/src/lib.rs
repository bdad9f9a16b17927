//! `clean_logs`: keep only the last N lines of a log (1000 by default).
//!
//! It reads the file backwards from the end, only as far as the N lines it
//! keeps, so its cost follows N and not the size of the log. The cut is
//! made by the host (`files::trim_front`) at the start of a line, in a way
//! that loses nothing the bot appends meanwhile.
//!
//! config: `file` (the log), `keep_lines` (default 1000).
//! grants: `files` read-write on the log's folder.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use pitstop_sdk::{Report, Request, Result, action, files, info, progress};

const CHUNK: u64 = 64 << 10;

fn run(req: &Request) -> Result<Report> {
    let path = req.path("file")?;
    let keep = req.u64_or("keep_lines", 1000)?;
    if keep == 0 {
        return Err("`config.keep_lines` must be at least 1".into());
    }
    let shown = path.display().to_string();
    let mut file = File::open(&path).map_err(|e| format!("cannot open `{shown}`: {e}"))?;
    let size_before = file.metadata().map_err(|e| e.to_string())?.len();
    progress(10, "finding where the last lines start");
    let cut = find_cut(&mut file, size_before, keep)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    drop(file);

    let Some(offset) = cut else {
        info(&format!(
            "`{shown}` has {keep} lines or fewer: nothing to remove"
        ));
        return Ok(Report::new(format!(
            "nothing to clean: the log has {keep} lines or fewer"
        ))
        .detail("size_before_mb", mb(size_before))
        .detail("size_after_mb", mb(size_before))
        .detail("lines_removed", 0)
        .detail("lines_kept", keep));
    };
    progress(50, "removing the older lines");
    let trimmed = files::trim_front(&shown, offset)?;
    let size_after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    info(&format!(
        "removed {} lines ({} bytes) by {}",
        trimmed.lines_removed, trimmed.bytes_removed, trimmed.method
    ));
    Ok(Report::new(format!(
        "log cleaned: kept the last {keep} lines, removed {} ({:.2} MB -> {:.2} MB)",
        trimmed.lines_removed,
        mb(size_before),
        mb(size_after)
    ))
    .detail("size_before_mb", mb(size_before))
    .detail("size_after_mb", mb(size_after))
    .detail("lines_removed", trimmed.lines_removed)
    .detail("lines_kept", keep)
    .detail("method", trimmed.method))
}

/// The offset of the first of the last `keep` lines, or `None` when the
/// file has no more than `keep` lines. A final newline ends the last line
/// rather than starting an empty one.
fn find_cut(file: &mut File, size: u64, keep: u64) -> std::io::Result<Option<u64>> {
    let mut end = size;
    if end == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(end - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        end -= 1;
    }
    let mut newlines = 0;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, &byte) in chunk.iter().enumerate().rev() {
            if byte == b'\n' {
                newlines += 1;
                if newlines == keep {
                    return Ok(Some(start + i as u64 + 1));
                }
            }
        }
        end = start;
    }
    Ok(None)
}

fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0
}

action!(run);
