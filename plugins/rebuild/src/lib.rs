//! `rebuild`: `<compose> build [service]`.
//!
//! config: `compose` (default `["docker", "compose"]`).
//! grants: `commands` with `<compose> build` and `<compose> build {service}`.

use pitstop_sdk::deploy::compose;
use pitstop_sdk::{Report, Request, Result, action, progress};

fn run(req: &Request) -> Result<Report> {
    progress(10, "building images");
    let output = compose(req, &["build"])?;
    let what = req
        .param("service")
        .map_or("all services".to_string(), |s| format!("`{s}`"));
    Ok(Report::new(format!("images rebuilt for {what}")).output(output))
}

action!(run);
