//! The HTTP server: a fixed pool of threads over `tiny_http`, each request
//! read with a capped body, handled inside `catch_unwind` (a panic becomes a
//! 500 for that request and nothing more), logged and counted.
//!
//! Only this module and its children know about HTTP and JSON envelopes.
//! `route.rs` turns a method and path into a [`route::Route`] and checks the
//! key; `api.rs` has one function per endpoint.

mod api;
mod route;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tiny_http::{Header, Request, Response, Server};

use crate::app::App;
use crate::error::{Error, Result};

/// Serves until the process ends. `on_ready` is called once with the bound
/// address (the real port when `listen` asked for port 0).
///
/// tiny_http's accept thread ends for good on its first accept error, and
/// panics when it cannot duplicate an accepted socket; both happen when the
/// process runs out of file descriptors under a flood of connections. So
/// pitstop keeps its own handle on the listening socket and this thread
/// watches the one it lent to tiny_http: when that descriptor is gone, the
/// accept loop is gone, and a new one is started on the same socket. The
/// port is never released, connections waiting in the backlog are kept,
/// and `/health` answers again as soon as descriptors are free.
pub fn serve(app: Arc<App>, listen: SocketAddr, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
    raise_fd_limit();
    let cannot = |err| Error::Internal(format!("cannot listen on {listen}: {err}"));
    let listener = bind(listen).map_err(cannot)?;
    let bound = listener.local_addr().unwrap_or(listen);
    let first = Accepting::start(&listener).map_err(cannot)?;
    let servers = Arc::new(Servers {
        current: Mutex::new(Arc::clone(&first.server)),
        previous: Mutex::new(None),
    });
    on_ready(bound);
    for n in 0..app.config.threads {
        let (app, servers) = (Arc::clone(&app), Arc::clone(&servers));
        std::thread::Builder::new()
            .name(format!("http-{n}"))
            .spawn(move || work(&app, &servers))
            .map_err(|err| Error::Internal(format!("cannot start an HTTP thread: {err}")))?;
    }

    let mut accepting = first;
    let mut restarts: u64 = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if accepting.is_alive(&listener) {
            if restarts > 0 {
                log::warn!("accepting connections on http://{bound} again");
                restarts = 0;
            }
            continue;
        }
        if restarts == 0 {
            log::error!(
                "the HTTP accept loop stopped (see the error above, most likely too many \
                 open connections); restarting it every half second until it holds"
            );
        }
        restarts += 1;
        match Accepting::start(&listener) {
            Ok(next) => {
                let old = std::mem::replace(
                    &mut *crate::lock(&servers.current),
                    Arc::clone(&next.server),
                );
                // Connections accepted before the failure still hand their
                // requests to the old server; the workers drain it too.
                *crate::lock(&servers.previous) = Some(old);
                accepting = next;
            }
            Err(err) => log::debug!("cannot restart the accept loop yet: {err}"),
        }
    }
}

/// The servers the worker threads take requests from.
struct Servers {
    current: Mutex<Arc<Server>>,
    /// The server whose accept loop died last, kept so the requests of the
    /// connections it had already accepted are still answered.
    previous: Mutex<Option<Arc<Server>>>,
}

/// One worker thread: answers requests for as long as the process lives.
fn work(app: &Arc<App>, servers: &Servers) {
    loop {
        let current = Arc::clone(&crate::lock(&servers.current));
        match current.recv_timeout(Duration::from_millis(250)) {
            Ok(Some(request)) => handle(app, request),
            Ok(None) => {}
            // The accept loop's last word; the watcher restarts it.
            Err(err) => log::error!("the HTTP listener failed: {err}"),
        }
        let previous = crate::lock(&servers.previous).clone();
        if let Some(previous) = previous {
            while let Ok(Some(request)) = previous.try_recv() {
                handle(app, request);
            }
        }
    }
}

/// A tiny_http server running on a duplicate of the listening socket, and
/// how to tell whether its accept thread still holds that duplicate.
struct Accepting {
    server: Arc<Server>,
    lent_fd: std::os::fd::RawFd,
}

impl Accepting {
    fn start(listener: &TcpListener) -> std::io::Result<Accepting> {
        use std::os::fd::AsRawFd;
        let lent = listener.try_clone()?;
        let lent_fd = lent.as_raw_fd();
        let server = Server::from_listener(lent, None).map_err(std::io::Error::other)?;
        Ok(Accepting {
            server: Arc::new(server),
            lent_fd,
        })
    }

    /// The accept thread owns the lent descriptor and closes it when it
    /// ends (on error or panic). The descriptor number may be reused at
    /// once, so compare what it points to with the socket we keep.
    fn is_alive(&self, listener: &TcpListener) -> bool {
        use std::os::fd::AsRawFd;
        match (fstat(self.lent_fd), fstat(listener.as_raw_fd())) {
            (Some(lent), Some(ours)) => lent == ours,
            _ => false,
        }
    }
}

/// The (device, inode) pair a descriptor points to.
fn fstat(fd: std::os::fd::RawFd) -> Option<(libc::dev_t, libc::ino_t)> {
    // SAFETY: fstat writes into the zeroed struct we own; a closed fd is
    // reported as an error, never undefined behaviour.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut stat) == 0).then_some((stat.st_dev, stat.st_ino))
    }
}

/// A listening socket with `TCP_NODELAY` set. Linux copies the option to
/// every accepted connection; without it, Nagle's algorithm and the
/// client's delayed ACK hold a keep-alive response that tiny_http writes
/// in two parts for 40 ms (measured on `/deployment/jobs` with keep-alive
/// clients: 90 requests per second without it, 8,700 with it).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind(addr)?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `one` for the given length; the fd is open.
    unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    Ok(listener)
}

/// What a handler sees of a request.
pub struct Ctx<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub api_key: Option<&'a str>,
    /// The `Origin` header, for CORS.
    pub origin: Option<&'a str>,
    /// The peer's address, recorded in the history as "who".
    pub client: String,
    /// The body, already read and capped; an error if it was too large or
    /// unreadable.
    pub body: Result<Vec<u8>>,
}

/// A response before it is sent.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            content_type: "application/json; charset=utf-8",
            body,
            headers: Vec::new(),
        }
    }

    pub fn error(err: &Error) -> Reply {
        let status = err.status();
        let mut reply = Reply::json(
            status,
            &serde_json::json!({"error": err.to_string(), "status": status}),
        );
        if let Error::MethodNotAllowed { allowed } = err {
            reply.headers.push(("Allow", allowed.to_string()));
        }
        reply
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

fn handle(app: &Arc<App>, mut request: Request) {
    let clock = Instant::now();
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let client = request
        .remote_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
    let api_key = header(&request, "X-API-Key");
    let origin = header(&request, "Origin");
    let body = read_body(&mut request, app.config.max_body);
    let ctx = Ctx {
        method: &method,
        path,
        query,
        api_key: api_key.as_deref(),
        origin: origin.as_deref(),
        client,
        body,
    };

    let reply = guarded(&method, path, || route::dispatch(app, &ctx));
    let status = reply.status;
    app.metrics.count_response(status);
    log::info!(
        "{} {method} {path} {status} {}ms",
        ctx.client,
        clock.elapsed().as_millis()
    );

    let mut response = Response::from_data(reply.body).with_status_code(status);
    for (name, value) in
        std::iter::once(("Content-Type", reply.content_type.to_string())).chain(reply.headers)
    {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    if let Err(err) = request.respond(response) {
        log::debug!("could not send the response to {method} {path}: {err}");
    }
}

/// Runs a handler; a panic in it becomes a 500 for this request only.
/// Everything a handler shares with others guards itself against a panic
/// mid-way (mutexes are taken with `into_inner` on poison, Redis
/// connections that failed are dropped), so the server goes on.
fn guarded(method: &str, path: &str, handler: impl FnOnce() -> Reply) -> Reply {
    catch_unwind(AssertUnwindSafe(handler)).unwrap_or_else(|_| {
        log::error!("a handler panicked on {method} {path}; answered 500");
        Reply::error(&Error::Internal(
            "internal error: the request handler crashed; see pitstop's log".into(),
        ))
    })
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

/// Reads at most `limit` bytes. A declared length over the limit is
/// refused before reading anything.
fn read_body(request: &mut Request, limit: usize) -> Result<Vec<u8>> {
    if request.body_length().is_some_and(|n| n > limit) {
        return Err(Error::PayloadTooLarge { limit });
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|err| Error::BadRequest(format!("cannot read the request body: {err}")))?;
    if body.len() > limit {
        return Err(Error::PayloadTooLarge { limit });
    }
    Ok(body)
}

/// Idle keep-alive connections each hold a descriptor; the default soft
/// limit of 1024 is easy to reach. Raise it to the hard limit (capped).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let wanted = limit.rlim_max.min(65_536);
            if limit.rlim_cur < wanted {
                limit.rlim_cur = wanted;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_answers_500() {
        let reply = guarded("GET", "/x", || panic!("handler bug"));
        assert_eq!(reply.status, 500);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["status"], 500);
        assert!(body["error"].as_str().unwrap().contains("crashed"));
        assert_eq!(
            guarded("GET", "/x", || Reply::text(200, "text/plain", "ok")).status,
            200
        );
    }
}
