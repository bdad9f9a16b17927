//! `restart`: `<compose> restart [service]`.
//!
//! config: `compose` (default `["docker", "compose"]`).
//! grants: `commands` with `<compose> restart` and `<compose> restart {service}`.

use pitstop_sdk::deploy::compose;
use pitstop_sdk::{Report, Request, Result, action, progress};

fn run(req: &Request) -> Result<Report> {
    progress(10, "restarting");
    let output = compose(req, &["restart"])?;
    let what = req
        .param("service")
        .map_or("all services".to_string(), |s| format!("`{s}`"));
    Ok(Report::new(format!("restarted {what}")).output(output))
}

action!(run);
