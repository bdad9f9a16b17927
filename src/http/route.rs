//! Method and path to a closed [`Route`], the key check, and the one
//! `match` that sends each route to its handler.

use super::{Ctx, Reply, api};
use crate::actions::ActionKind;
use crate::app::App;
use crate::error::{Error, Result};

#[derive(Debug, PartialEq)]
pub enum Route {
    Health,
    Widget,
    WidgetScript,
    /// A CORS preflight (`OPTIONS`), for any path.
    Preflight,
    ServicesStatus,
    Jobs,
    RunAction(ActionKind),
    Stop,
    Actions,
    Run(String),
    History,
    Metrics,
}

impl Route {
    /// 404 for an unknown path, 405 (with the allowed method) for a known
    /// path asked with the wrong method. HEAD is answered like GET.
    pub fn parse(method: &str, path: &str) -> Result<Route> {
        if method == "OPTIONS" {
            return Ok(Route::Preflight);
        }
        let (route, allowed) = match path {
            "/health" => (Route::Health, "GET"),
            "/" | "/widget" | "/widget/" => (Route::Widget, "GET"),
            "/widget/pitstop-widget.js" => (Route::WidgetScript, "GET"),
            "/deployment/services/status" => (Route::ServicesStatus, "GET"),
            "/deployment/jobs" => (Route::Jobs, "GET"),
            "/deployment/maintenance" => (Route::RunAction(ActionKind::Maintenance), "POST"),
            "/deployment/deploy" => (Route::RunAction(ActionKind::Deploy), "POST"),
            "/stop" => (Route::Stop, "POST"),
            "/deployment/actions" => (Route::Actions, "GET"),
            "/deployment/history" => (Route::History, "GET"),
            "/metrics" => (Route::Metrics, "GET"),
            _ => match path.strip_prefix("/deployment/runs/") {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    (Route::Run(id.to_string()), "GET")
                }
                _ => {
                    return Err(Error::NotFound(format!(
                        "no such path: `{}`",
                        truncate(path, 200)
                    )));
                }
            },
        };
        let method = if method == "HEAD" { "GET" } else { method };
        if method != allowed {
            return Err(Error::MethodNotAllowed { allowed });
        }
        Ok(route)
    }

    fn needs_key(&self, app: &App) -> bool {
        match self {
            Route::Health | Route::Widget | Route::WidgetScript | Route::Preflight => false,
            Route::Metrics => !app.config.metrics_open,
            _ => true,
        }
    }
}

pub fn dispatch(app: &std::sync::Arc<App>, ctx: &Ctx) -> Reply {
    let result = Route::parse(ctx.method, ctx.path).and_then(|route| {
        if route.needs_key(app) {
            check_key(app, ctx.api_key)?;
        }
        match route {
            Route::Health => api::health(app),
            Route::Widget => api::widget(),
            Route::WidgetScript => api::widget_script(),
            Route::Preflight => api::preflight(app, ctx),
            Route::ServicesStatus => api::services_status(app),
            Route::Jobs => api::jobs(app, ctx),
            Route::RunAction(kind) => api::run_action(app, ctx, kind),
            Route::Stop => api::stop(app, ctx),
            Route::Actions => api::actions(app),
            Route::Run(id) => api::run(app, &id),
            Route::History => api::history(app, ctx),
            Route::Metrics => api::metrics(app),
        }
    });
    let mut reply = result.unwrap_or_else(|err| Reply::error(&err));
    if let Some(origin) = ctx.origin.filter(|o| origin_allowed(app, o)) {
        reply
            .headers
            .push(("Access-Control-Allow-Origin", origin.to_string()));
        reply.headers.push(("Vary", "Origin".to_string()));
    }
    reply
}

/// Whether `origin` is in `server.allowed_origins` (for the widget
/// embedded in the bot's dashboard).
pub fn origin_allowed(app: &App, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    app.config
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
}

/// Compares the key in constant time, so the time taken says nothing about
/// how much of a guess was right.
fn check_key(app: &App, given: Option<&str>) -> Result<()> {
    let Some(expected) = app.config.api_key.as_deref() else {
        return Err(Error::Unauthorized(format!(
            "no API key is configured on this pitstop: set `{}` in its environment and restart it",
            app.config.api_key_env
        )));
    };
    let Some(given) = given else {
        return Err(Error::Unauthorized(
            "missing `X-API-Key` header".to_string(),
        ));
    };
    if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(Error::Unauthorized("wrong API key".to_string()))
    }
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = expected.len() ^ given.len();
    for (i, &g) in given.iter().enumerate() {
        let e = expected
            .get(i % expected.len().max(1))
            .copied()
            .unwrap_or(0);
        diff |= usize::from(e ^ g);
    }
    diff == 0 && !expected.is_empty()
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("GET", "/health").unwrap(), Route::Health);
        assert_eq!(Route::parse("HEAD", "/health").unwrap(), Route::Health);
        assert_eq!(
            Route::parse("GET", "/deployment/runs/abc").unwrap(),
            Route::Run("abc".into())
        );
        assert_eq!(Route::parse("POST", "/health").unwrap_err().status(), 405);
        assert_eq!(Route::parse("GET", "/stop").unwrap_err().status(), 405);
        assert_eq!(Route::parse("GET", "/nope").unwrap_err().status(), 404);
        assert_eq!(
            Route::parse("GET", "/deployment/runs/a/b")
                .unwrap_err()
                .status(),
            404
        );
    }

    #[test]
    fn keys() {
        assert!(constant_time_eq(b"secret-key", b"secret-key"));
        assert!(!constant_time_eq(b"secret-key", b"secret-kex"));
        assert!(!constant_time_eq(b"secret-key", b"secret-key-longer"));
        assert!(!constant_time_eq(b"secret-key", b"secret"));
        assert!(!constant_time_eq(b"secret-key", b""));
        assert!(!constant_time_eq(b"", b""));
    }
}
