//! The one error type of pitstop, and the two places where an error becomes
//! something a person sees: an HTTP status ([`Error::status`]) and a process
//! exit code ([`Error::exit_code`]).
//!
//! Messages are written for the person at the Pi: lowercase, the thing that
//! went wrong named in backticks, what to do next where we know it.

use std::fmt;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// The command line is wrong. Exit 2.
    Usage(String),
    /// `actions.toml` (or an environment override) is wrong. Exit 2.
    Config {
        path: PathBuf,
        /// 1-based line of the offending key, when it is known.
        line: Option<usize>,
        /// Dotted path of the offending key, e.g. `services.probe`.
        key: Option<String>,
        message: String,
    },
    /// The request body is not what the endpoint reads (400).
    BadRequest(String),
    /// Missing or wrong `X-API-Key` (401).
    Unauthorized(String),
    /// A cross-origin request from an origin that is not allowed (403).
    Forbidden(String),
    /// Unknown path (404).
    NotFound(String),
    /// Unknown action name (404), for the API and `pitstop run`.
    UnknownAction(String),
    /// Known path, wrong method (405).
    MethodNotAllowed { allowed: &'static str },
    /// The same action is already running (409).
    Conflict(String),
    /// Request body over the cap (413).
    PayloadTooLarge { limit: usize },
    /// Well-formed JSON with a field we cannot accept (422).
    Invalid(String),
    /// Redis cannot be reached or answered with an error (503).
    Redis(String),
    /// pitstop's own SQLite state database failed (503: it is usually a
    /// locked or full disk, which passes).
    Store(String),
    /// An action ran past its time limit (504).
    Timeout(String),
    /// Anything else that went wrong on our side (500).
    Internal(String),
}

impl Error {
    /// The HTTP status this error is answered with. This is the only place
    /// that decides it.
    pub fn status(&self) -> u16 {
        match self {
            Error::Usage(_) | Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) | Error::UnknownAction(_) => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::Conflict(_) => 409,
            Error::PayloadTooLarge { .. } => 413,
            Error::Invalid(_) => 422,
            Error::Redis(_) | Error::Store(_) => 503,
            Error::Timeout(_) => 504,
            Error::Config { .. } | Error::Internal(_) => 500,
        }
    }

    /// The process exit code for this error: 2 for usage and configuration
    /// mistakes (the operator must change something), 1 for everything that
    /// failed while doing the work.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config { .. } | Error::UnknownAction(_) => 2,
            _ => 1,
        }
    }

    /// A configuration error that is not tied to a line of the file, such as
    /// a bad environment override.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Config {
            path: path.into(),
            line: None,
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Config {
                path,
                line,
                key,
                message,
            } => {
                write!(f, "{}", path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(key) = key {
                    write!(f, ": key `{key}`")?;
                }
                write!(f, ": {message}")
            }
            Error::BadRequest(msg)
            | Error::Unauthorized(msg)
            | Error::Forbidden(msg)
            | Error::NotFound(msg)
            | Error::Conflict(msg)
            | Error::Invalid(msg)
            | Error::Timeout(msg)
            | Error::Internal(msg) => write!(f, "{msg}"),
            Error::UnknownAction(name) => write!(f, "unknown action `{name}`"),
            Error::MethodNotAllowed { allowed } => {
                write!(f, "method not allowed here: use {allowed}")
            }
            Error::PayloadTooLarge { limit } => {
                write!(f, "request body too large: the limit is {limit} bytes")
            }
            Error::Redis(msg) => write!(f, "redis: {msg}"),
            Error::Store(msg) => write!(f, "state database: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Error {
        Error::Redis(describe_redis_error(&err))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        Error::Store(err.to_string())
    }
}

/// A short, plain description of a Redis error: "connection refused" is
/// what a person needs, not the client's internal error kind.
pub fn describe_redis_error(err: &redis::RedisError) -> String {
    if err.is_connection_refusal() {
        "connection refused (is redis-server running?)".to_string()
    } else if err.is_timeout() {
        "timed out".to_string()
    } else {
        err.to_string()
    }
}
