//! What an action may touch, and the checks every host call goes through.
//!
//! This file is the whole sandbox policy, in one place so that it reads at
//! once: a plugin reaches files only through the WASI preopens built from
//! `files`, and every other host call (Redis, SQLite, programs, HTTP,
//! service status, trimming a file) is checked here first. Everything is
//! denied unless the action's `grants` in `actions.toml` declare it, and a
//! refusal names the grant that is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything one action may touch.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Directories mapped into the plugin (at the same absolute path).
    pub files: Vec<FileGrant>,
    pub redis: Option<RedisGrant>,
    pub sqlite: Option<SqliteGrant>,
    /// Exact argument vectors the plugin may run. An element `{name}`
    /// stands for the value of the request parameter `name`.
    pub commands: Vec<Vec<String>>,
    /// Origins (`scheme://host:port`) the plugin may send HTTP requests to.
    pub http: Vec<String>,
    /// Whether the plugin may read the service probes.
    pub services: bool,
}

#[derive(Debug, Clone)]
pub struct FileGrant {
    /// Absolute, as resolved from the configuration's folder.
    pub path: PathBuf,
    pub write: bool,
}

#[derive(Debug, Clone)]
pub struct RedisGrant {
    /// Upper-case command names.
    pub commands: Vec<String>,
    /// Glob patterns (`*`, `?`) every key of a command must match.
    pub keys: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SqliteGrant {
    pub path: PathBuf,
    pub write: bool,
    /// Where `backup` writes; none means backups are not granted.
    pub backups: Option<PathBuf>,
}

/// A refusal, with a message that names the grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Denied(pub String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "denied: {}", self.0)
    }
}

/// Where the keys are in a Redis command's arguments (after the name).
#[derive(Clone, Copy)]
enum KeySpec {
    None,
    First,
    FirstTwo,
    All,
}

/// The Redis commands a grant may list: the ones whose keys pitstop knows
/// how to find. A command missing here cannot be granted (`EVAL`, `KEYS`,
/// `SCAN`, `FLUSHALL`, `CONFIG`… would reach keys the grant cannot see).
fn key_spec(command: &str) -> Option<KeySpec> {
    use KeySpec::*;
    Some(match command {
        "PING" | "TIME" | "ECHO" => None,
        "DEL" | "UNLINK" | "EXISTS" | "TOUCH" | "MGET" => All,
        "RENAME" | "RENAMENX" | "LMOVE" | "RPOPLPUSH" | "SMOVE" => FirstTwo,
        "GET" | "SET" | "SETNX" | "GETDEL" | "INCR" | "INCRBY" | "DECR" | "DECRBY" | "APPEND"
        | "STRLEN" | "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PERSIST" | "TTL" | "PTTL" | "TYPE"
        | "LLEN" | "LRANGE" | "LINDEX" | "LPOP" | "RPOP" | "LPUSH" | "RPUSH" | "LREM" | "LTRIM"
        | "LSET" | "LPOS" | "HGET" | "HGETALL" | "HMGET" | "HSET" | "HSETNX" | "HDEL" | "HLEN"
        | "HEXISTS" | "HKEYS" | "HVALS" | "HINCRBY" | "SADD" | "SREM" | "SMEMBERS" | "SCARD"
        | "SISMEMBER" | "SPOP" | "ZADD" | "ZREM" | "ZCARD" | "ZCOUNT" | "ZSCORE" | "ZRANK"
        | "ZREVRANK" | "ZRANGE" | "ZREVRANGE" | "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE"
        | "ZREMRANGEBYSCORE" | "ZREMRANGEBYRANK" | "ZINCRBY" | "XLEN" | "XRANGE" | "XREVRANGE"
        | "XDEL" | "XTRIM" | "PUBLISH" => First,
        _ => return Option::None,
    })
}

/// Whether `command` can appear in `grants.redis.commands`.
pub fn redis_command_supported(command: &str) -> bool {
    key_spec(command).is_some()
}

impl Grants {
    /// A Redis command: granted by name, and every key it names matches a
    /// granted pattern.
    pub fn check_redis(&self, args: &[String]) -> Result<(), Denied> {
        let Some(grant) = &self.redis else {
            return Err(Denied("this action has no `grants.redis`".into()));
        };
        let Some(name) = args.first().map(|a| a.to_ascii_uppercase()) else {
            return Err(Denied("an empty Redis command".into()));
        };
        if !grant.commands.contains(&name) {
            return Err(Denied(format!(
                "`grants.redis.commands` does not include `{name}`"
            )));
        }
        let rest = &args[1..];
        let keys: &[String] = match key_spec(&name).unwrap_or(KeySpec::All) {
            KeySpec::None => &[],
            KeySpec::First => &rest[..rest.len().min(1)],
            KeySpec::FirstTwo => &rest[..rest.len().min(2)],
            KeySpec::All => rest,
        };
        for key in keys {
            if !grant
                .keys
                .iter()
                .any(|pattern| glob_match(pattern.as_bytes(), key.as_bytes()))
            {
                return Err(Denied(format!(
                    "`grants.redis.keys` does not cover the key `{key}` ({name})"
                )));
            }
        }
        Ok(())
    }

    /// A program: the whole argument vector equals one granted vector,
    /// with `{name}` elements equal to the request's parameter `name`.
    pub fn check_command(
        &self,
        argv: &[String],
        params: &BTreeMap<String, String>,
    ) -> Result<(), Denied> {
        let matches = |allowed: &Vec<String>| {
            allowed.len() == argv.len()
                && allowed.iter().zip(argv).all(|(want, got)| {
                    match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                        Some(param) => params.get(param) == Some(got),
                        None => want == got,
                    }
                })
        };
        if self.commands.iter().any(matches) {
            Ok(())
        } else {
            Err(Denied(format!(
                "`grants.commands` does not include {}",
                show_argv(argv)
            )))
        }
    }

    /// An HTTP request to `url`: its origin is granted.
    pub fn check_http(&self, url: &str) -> Result<(), Denied> {
        let origin = origin_of(url).map_err(Denied)?;
        if self.http.contains(&origin) {
            Ok(())
        } else {
            Err(Denied(format!("`grants.http` does not include `{origin}`")))
        }
    }

    pub fn check_sqlite(&self) -> Result<&SqliteGrant, Denied> {
        self.sqlite
            .as_ref()
            .ok_or_else(|| Denied("this action has no `grants.sqlite`".into()))
    }

    pub fn check_services(&self) -> Result<(), Denied> {
        if self.services {
            Ok(())
        } else {
            Err(Denied("`grants.services` is not true".into()))
        }
    }

    /// A file the host itself modifies for the plugin: it must lie, after
    /// resolving every symbolic link, inside a read-write `files` grant.
    pub fn check_file_write(&self, path: &str) -> Result<PathBuf, Denied> {
        let real = std::fs::canonicalize(path).map_err(|e| Denied(format!("`{path}`: {e}")))?;
        let inside = self
            .files
            .iter()
            .filter(|g| g.write)
            .any(|g| std::fs::canonicalize(&g.path).is_ok_and(|root| real.starts_with(root)));
        if inside {
            Ok(real)
        } else {
            Err(Denied(format!(
                "no read-write `grants.files` entry covers `{}`",
                real.display()
            )))
        }
    }

    /// Whether a plugin importing `interface` (e.g. `pitstop:action/redis`)
    /// can be served by these grants; for `pitstop check`.
    pub fn serves(&self, interface: &str) -> Result<(), String> {
        let name = interface.split('@').next().unwrap_or(interface);
        let missing = match name {
            "pitstop:action/log" => None,
            "pitstop:action/redis" if self.redis.is_none() => Some("`grants.redis`"),
            "pitstop:action/sqlite" if self.sqlite.is_none() => Some("`grants.sqlite`"),
            "pitstop:action/process" if self.commands.is_empty() => Some("`grants.commands`"),
            "pitstop:action/http" if self.http.is_empty() => Some("`grants.http`"),
            "pitstop:action/services" if !self.services => Some("`grants.services`"),
            "pitstop:action/files" if !self.files.iter().any(|f| f.write) => {
                Some("a read-write `grants.files`")
            }
            n if n.starts_with("pitstop:action/") => None,
            n if n.starts_with("wasi:sockets/") => {
                return Err(format!(
                    "it imports `{interface}`, and pitstop never gives plugins sockets"
                ));
            }
            n if n.starts_with("wasi:") => None,
            _ => {
                return Err(format!(
                    "it imports `{interface}`, which pitstop does not provide"
                ));
            }
        };
        match missing {
            Some(grant) => Err(format!(
                "it imports `{interface}` but the action has no {grant}"
            )),
            None => Ok(()),
        }
    }
}

/// `scheme://host:port` of a URL (default ports filled in), or why not.
pub fn origin_of(url: &str) -> Result<String, String> {
    let bad = || format!("`{url}` is not an http:// or https:// URL");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(']') || authority.starts_with('[') && !port.contains(']') =>
        {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
}

/// Redis-style glob: `*` any run, `?` any one byte, everything else itself.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

pub fn show_argv(argv: &[String]) -> String {
    format!(
        "[{}]",
        argv.iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Turns a path of the configuration into an absolute one.
pub fn absolute(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    // Normalise `.` and `..` lexically; the file may not exist yet.
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants {
            redis: Some(RedisGrant {
                commands: vec!["LLEN".into(), "DEL".into(), "RENAME".into()],
                keys: vec!["rq:queue:*".into(), "rq:job:*".into()],
            }),
            commands: vec![
                vec!["git".into(), "pull".into()],
                vec!["dc".into(), "restart".into(), "{service}".into()],
            ],
            http: vec!["http://127.0.0.1:8001".into()],
            ..Grants::default()
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn redis_commands_and_keys() {
        let g = grants();
        assert!(g.check_redis(&s(&["llen", "rq:queue:default"])).is_ok());
        assert!(g.check_redis(&s(&["DEL", "rq:job:a", "rq:job:b"])).is_ok());
        let e = g
            .check_redis(&s(&["DEL", "rq:job:a", "secrets"]))
            .unwrap_err();
        assert!(e.0.contains("`secrets`"), "{e}");
        let e = g.check_redis(&s(&["FLUSHALL"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "denied: `grants.redis.commands` does not include `FLUSHALL`"
        );
        assert!(
            g.check_redis(&s(&["RENAME", "rq:queue:a", "other"]))
                .is_err()
        );
        assert!(Grants::default().check_redis(&s(&["LLEN", "x"])).is_err());
        assert!(!redis_command_supported("EVAL"));
    }

    #[test]
    fn commands_are_exact() {
        let g = grants();
        let params: BTreeMap<String, String> = [("service".to_string(), "api".to_string())].into();
        assert!(g.check_command(&s(&["git", "pull"]), &params).is_ok());
        assert!(
            g.check_command(&s(&["git", "pull", "--force"]), &params)
                .is_err()
        );
        assert!(
            g.check_command(&s(&["dc", "restart", "api"]), &params)
                .is_ok()
        );
        assert!(
            g.check_command(&s(&["dc", "restart", "worker"]), &params)
                .is_err()
        );
        assert!(
            g.check_command(&s(&["dc", "restart", "{service}"]), &params)
                .is_err()
        );
        assert!(
            g.check_command(&s(&["sh", "-c", "git pull"]), &params)
                .is_err()
        );
    }

    #[test]
    fn http_origins() {
        let g = grants();
        assert!(g.check_http("http://127.0.0.1:8001/health").is_ok());
        assert!(g.check_http("HTTP://127.0.0.1:8001").is_ok());
        assert!(g.check_http("http://127.0.0.1:8002/").is_err());
        assert!(g.check_http("http://127.0.0.1:8001@evil.example/").is_err());
        assert!(
            g.check_http("http://evil.example/?http://127.0.0.1:8001")
                .is_err()
        );
        assert!(g.check_http("file:///etc/passwd").is_err());
        assert_eq!(
            origin_of("https://example.org/x").unwrap(),
            "https://example.org:443"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"rq:job:*", b"rq:job:abc:dependents"));
        assert!(glob_match(b"rq:?", b"rq:x"));
        assert!(!glob_match(b"rq:job:*", b"rq:jobs"));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"a*b", b"acbd"));
    }
}
