//! One function per endpoint. The JSON shapes of the API live here, and the
//! seed's paths and shapes are kept so the existing dashboard's proxy
//! routes can point at pitstop unchanged.

use serde::Deserialize;
use serde_json::json;

use super::{Ctx, Reply};
use std::sync::Arc;

use crate::actions::{ActionKind, ActionRequest, RunLog, RunResult};
use crate::app::{App, VERSION};
use crate::clock::now_iso;
use crate::error::{Error, Result};
use crate::rq::{MAX_PAGE, Page};

pub fn health(app: &App) -> Result<Reply> {
    Ok(Reply::json(
        200,
        &json!({"status": "ok", "version": VERSION, "uptime_seconds": app.started.elapsed().as_secs()}),
    ))
}

/// The widget: one page and one script, embedded in the binary.
const WIDGET_PAGE: &str = include_str!("widget/index.html");
const WIDGET_SCRIPT: &str = include_str!("widget/pitstop-widget.js");

pub fn widget() -> Result<Reply> {
    let mut reply = Reply::text(200, "text/html; charset=utf-8", WIDGET_PAGE);
    reply.headers.extend([
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
                .to_string(),
        ),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
        ("Cache-Control", "no-cache".to_string()),
    ]);
    Ok(reply)
}

pub fn widget_script() -> Result<Reply> {
    let mut reply = Reply::text(200, "text/javascript; charset=utf-8", WIDGET_SCRIPT);
    reply.headers.extend([
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("Cache-Control", "no-cache".to_string()),
    ]);
    Ok(reply)
}

/// Answers a CORS preflight from an allowed origin; any other origin is
/// refused, so browsers never send it the real request.
pub fn preflight(app: &App, ctx: &Ctx) -> Result<Reply> {
    match ctx.origin {
        Some(origin) if super::route::origin_allowed(app, origin) => {
            let mut reply = Reply::text(204, "text/plain; charset=utf-8", "");
            reply.headers.extend([
                ("Access-Control-Allow-Methods", "GET, POST".to_string()),
                (
                    "Access-Control-Allow-Headers",
                    "X-API-Key, Content-Type".to_string(),
                ),
                ("Access-Control-Max-Age", "600".to_string()),
            ]);
            Ok(reply)
        }
        Some(origin) => Err(Error::Forbidden(format!(
            "origin `{origin}` is not allowed: add it to `server.allowed_origins`"
        ))),
        None => Err(Error::MethodNotAllowed {
            allowed: "GET, POST",
        }),
    }
}

pub fn services_status(app: &App) -> Result<Reply> {
    Ok(Reply::json(
        200,
        &json!({"services": app.services(), "timestamp": now_iso()}),
    ))
}

pub fn jobs(app: &App, ctx: &Ctx) -> Result<Reply> {
    let page = Page {
        offset: query_number(ctx.query, "offset", 0, usize::MAX / 2)?,
        limit: query_number(ctx.query, "limit", 10, MAX_PAGE)?,
    };
    let jobs = app.rq.jobs(page)?;
    Ok(Reply::json(
        200,
        &json!({
            "queued": jobs.queued,
            "started": jobs.started,
            "finished": jobs.finished,
            "failed": jobs.failed,
            "total": jobs.counts.total(),
            "counts": jobs.counts,
            "dangling": jobs.dangling,
            "offset": page.offset,
            "limit": page.limit,
            "timestamp": now_iso(),
        }),
    ))
}

/// The body of `POST /deployment/maintenance` and `/deployment/deploy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: serde_json::Value,
    #[serde(default)]
    service: Option<serde_json::Value>,
    #[serde(default)]
    wait: Option<serde_json::Value>,
}

pub fn run_action(app: &Arc<App>, ctx: &Ctx, kind: ActionKind) -> Result<Reply> {
    let body = ctx.body.as_ref().map_err(clone_error)?;
    let body: ActionBody = parse_json(body)?;
    let action = match body.action {
        serde_json::Value::String(s) if !s.trim().is_empty() => s,
        _ => {
            return Err(Error::Invalid(
                "`action` must be the name of an action, as a string".into(),
            ));
        }
    };
    let service = match body.service {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(Error::Invalid("`service` must be a string".into())),
    };
    let wait = match body.wait {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Bool(wait)) => wait,
        Some(_) => return Err(Error::Invalid("`wait` must be true or false".into())),
    };
    let request = ActionRequest { action, service };
    let run = app.start_action(kind, &request, &ctx.client)?;
    if !wait {
        return Ok(Reply::json(
            202,
            &json!({"run_id": run.id, "action": run.action, "status": "running"}),
        ));
    }
    let result = run.wait();
    Ok(action_reply(&run, &result))
}

/// The seed's response for a finished run: `{"action","status","message",
/// "details"}` (and `"output"` for deploy actions) with 200 on success. A
/// failed run answers 500 (504 when it ran out of time) with the error
/// shape of every other failure, plus the run's phase and cause.
fn action_reply(run: &RunLog, result: &RunResult) -> Reply {
    if result.status == "success" {
        let mut body = json!({
            "action": run.action,
            "status": "success",
            "message": result.message,
            "details": result.details,
            "run_id": run.id,
            "duration_ms": result.duration_ms,
        });
        if run.kind == ActionKind::Deploy {
            let output = result.output.clone().unwrap_or_else(|| {
                run.lines_from(0)
                    .iter()
                    .map(|l| l.message.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            body["output"] = json!(output);
        }
        return Reply::json(200, &body);
    }
    let status = if result.status == "timeout" { 504 } else { 500 };
    Reply::json(
        status,
        &json!({
            "error": result.message,
            "status": status,
            "action": run.action,
            "run_id": run.id,
            "phase": result.phase,
            "cause": result.cause,
            "details": result.details,
            "duration_ms": result.duration_ms,
        }),
    )
}

pub fn stop(app: &App, ctx: &Ctx) -> Result<Reply> {
    let report = app.emergency_stop(&ctx.client)?;
    Ok(Reply::json(200, &report))
}

pub fn actions(app: &App) -> Result<Reply> {
    Ok(Reply::json(200, &json!({"actions": app.actions.list()})))
}

pub fn run(app: &App, id: &str) -> Result<Reply> {
    if let Some(run) = app.actions.recent(id) {
        return Ok(Reply::json(200, &run.snapshot()));
    }
    match app.store.run(id)? {
        Some(record) => Ok(Reply::json(200, &record)),
        None => Err(Error::NotFound(format!("no run `{id}`"))),
    }
}

pub fn history(app: &App, ctx: &Ctx) -> Result<Reply> {
    let offset = query_number(ctx.query, "offset", 0, usize::MAX / 2)?;
    let limit = query_number(ctx.query, "limit", 50, 1000)?;
    let runs = app.store.history(offset, limit)?;
    Ok(Reply::json(
        200,
        &json!({"runs": runs, "offset": offset, "limit": limit}),
    ))
}

pub fn metrics(app: &App) -> Result<Reply> {
    let counts = app.rq.counts().ok();
    let services = app.services();
    let text = app.metrics.render(
        VERSION,
        app.started.elapsed().as_secs_f64(),
        counts.as_ref(),
        &services,
    );
    Ok(Reply::text(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    ))
}

/// A JSON object body into `T`: 400 when it is not JSON at all, 422 when
/// it is JSON but not an object of the expected fields.
fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(
            "the request body is empty: send a JSON object".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| Error::BadRequest(format!("the request body is not valid JSON: {err}")))?;
    if !value.is_object() {
        return Err(Error::Invalid(
            "invalid request: the body must be a JSON object".into(),
        ));
    }
    serde_json::from_value(value).map_err(|err| Error::Invalid(format!("invalid request: {err}")))
}

/// A whole number from the query string, `default` when absent.
fn query_number(query: &str, name: &str, default: usize, max: usize) -> Result<usize> {
    let value = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value);
    match value {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                Error::Invalid(format!("`{name}` must be a whole number from 0 to {max}"))
            }),
    }
}

/// Errors are not `Clone` (they may hold I/O errors); the body error is
/// rebuilt from its status and text.
fn clone_error(err: &Error) -> Error {
    match err {
        Error::PayloadTooLarge { limit } => Error::PayloadTooLarge { limit: *limit },
        other => Error::BadRequest(other.to_string()),
    }
}
