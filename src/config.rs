//! `actions.toml`: what pitstop serves, what it watches and (later) every
//! action with exactly what it may touch.
//!
//! Loading is two stages, as in ripgrep's flags: [`RawConfig`] mirrors the
//! file (serde, unknown keys rejected), then [`Config::load`] validates it
//! into types the rest of the code trusts. Every error names the file, the
//! line and the dotted key. Environment overrides (`REDIS_URL`,
//! `PITSTOP_LISTEN`, `PITSTOP_LOG` and the API key variable) are applied
//! here and nowhere else, so `pitstop check` sees what `pitstop serve` sees.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::actions::spec::{ActionSpec, RawAction};
use crate::clock::parse_duration;
use crate::error::{Error, Result};

/// The key the seed published in its documentation. Anyone can read it, so
/// it is refused outside loopback exactly like no key at all.
pub const SEED_DEFAULT_KEY: &str = "internal_secret_key";
/// Shortest API key accepted when pitstop listens beyond loopback.
pub const MIN_KEY_LEN: usize = 16;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (as given, for messages).
    pub path: PathBuf,
    /// Its folder, absolute: relative paths in the file start here.
    pub dir: PathBuf,
    pub listen: SocketAddr,
    /// Name of the environment variable holding the API key.
    pub api_key_env: String,
    /// The API key read from that variable, if set and non-empty.
    pub api_key: Option<String>,
    /// Threads answering HTTP requests. Long actions hold one each.
    pub threads: usize,
    /// Largest request body read, in bytes; larger ones get 413.
    pub max_body: usize,
    /// Whether `/metrics` is readable without the key (for a local
    /// Prometheus that cannot send headers).
    pub metrics_open: bool,
    /// pitstop's own SQLite database (run history).
    pub state_db: PathBuf,
    pub log_level: log::LevelFilter,
    pub redis: RedisConfig,
    pub services: Vec<ServiceSpec>,
    /// Declared actions, in the order of the file.
    pub actions: Vec<ActionSpec>,
    /// Where compiled plugins are cached.
    pub cache_dir: PathBuf,
    /// Origins (`scheme://host:port`) whose pages may call the API, for
    /// the widget embedded in the bot's dashboard.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    /// The RQ queue pitstop shows and cleans, e.g. `linkedin-bot`.
    pub queue: String,
    /// RQ's key prefix (`rq`; RQ 3 reads it from `RQ_KEY_PREFIX`).
    pub key_prefix: String,
    /// Bound on connecting to and each reply from Redis.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub probe: Probe,
    pub timeout: Duration,
}

/// How a service is known to be up.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// PING the configured Redis; uptime from `INFO server`.
    Redis,
    /// A live RQ worker on the queue (fresh heartbeat); uptime from its birth.
    RqWorker,
    /// GET the URL: 2xx is running, refused is stopped, anything else error.
    Http(String),
    /// A TCP connect to `host:port`.
    Tcp(String),
}

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    redis: RawRedis,
    #[serde(default)]
    services: Vec<RawService>,
    #[serde(default)]
    actions: std::collections::BTreeMap<String, Spanned<RawAction>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    threads: Option<Spanned<i64>>,
    max_body: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    state_db: Option<Spanned<String>>,
    plugin_dir: Option<Spanned<String>>,
    cache_dir: Option<Spanned<String>>,
    #[serde(default)]
    allowed_origins: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    url: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
    key_prefix: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    probe: Spanned<String>,
    timeout: Option<Spanned<String>>,
}

/// Where configuration values come from besides the file: the environment
/// and the command line. A struct so tests can pass their own.
#[derive(Default, Debug, Clone)]
pub struct Overrides {
    /// `--listen`, stronger than `PITSTOP_LISTEN`.
    pub listen: Option<String>,
}

impl Config {
    /// Reads, parses and validates `path`, then applies the environment
    /// (`env` is `std::env::var` in production) and the command line.
    pub fn load(
        path: &Path,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let source = std::fs::read_to_string(path)
            .map_err(|err| Error::config(path, format!("cannot read the configuration: {err}")))?;
        Config::parse(path, &source, overrides, env)
    }

    /// [`Config::load`] on text already read.
    pub fn parse(
        path: &Path,
        source: &str,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let at = Locator { path, source };
        let raw: RawConfig = toml::from_str(source).map_err(|err| {
            let message = err.message().trim_end().to_string();
            match err.span() {
                Some(span) => at.error(span, message),
                None => Error::config(path, message),
            }
        })?;
        // Absolute, so that grants and plugin paths do not depend on the
        // folder pitstop happens to be started from.
        let dir = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let env_nonempty = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        // [server]
        let server = raw.server;
        let listen = match (
            &overrides.listen,
            env_nonempty("PITSTOP_LISTEN"),
            &server.listen,
        ) {
            (Some(cli), _, _) => {
                parse_listen(cli).map_err(|m| Error::Usage(format!("--listen: {m}")))?
            }
            (None, Some(var), _) => parse_listen(&var)
                .map_err(|m| Error::config(path, format!("PITSTOP_LISTEN: {m}")))?,
            (None, None, Some(v)) => {
                parse_listen(v.get_ref()).map_err(|m| at.error(v.span(), m))?
            }
            (None, None, None) => "127.0.0.1:8000".parse().expect("valid default"),
        };
        let api_key_env = match &server.api_key_env {
            Some(v) if is_env_name(v.get_ref()) => v.get_ref().clone(),
            Some(v) => {
                return Err(at.error(
                    v.span(),
                    format!("`{}` is not an environment variable name", v.get_ref()),
                ));
            }
            None => "API_KEY".to_string(),
        };
        let api_key = env_nonempty(&api_key_env);
        let threads = match &server.threads {
            Some(v) if (1..=64).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => return Err(at.error(v.span(), "must be between 1 and 64")),
            None => 8,
        };
        let max_body = match &server.max_body {
            Some(v) => parse_size(v.get_ref())
                .filter(|n| (1024..=16 << 20).contains(n))
                .ok_or_else(|| {
                    at.error(
                        v.span(),
                        "write a size between `1KiB` and `16MiB`, like `64KiB`",
                    )
                })?,
            None => 64 << 10,
        };
        let metrics_open = match server
            .metrics
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("key", _)) => false,
            Some(("open", _)) => true,
            Some((_, span)) => return Err(at.error(span, "must be `key` or `open`")),
        };
        let state_db = match &server.state_db {
            Some(v) if !v.get_ref().trim().is_empty() => dir.join(v.get_ref()),
            Some(v) => return Err(at.error(v.span(), "must not be empty")),
            None => dir.join("pitstop.db"),
        };
        let plugin_dir = match &server.plugin_dir {
            Some(v) if !v.get_ref().trim().is_empty() => dir.join(v.get_ref()),
            Some(v) => return Err(at.error(v.span(), "must not be empty")),
            None => dir.join("plugins"),
        };
        let cache_dir = match &server.cache_dir {
            Some(v) if !v.get_ref().trim().is_empty() => dir.join(v.get_ref()),
            Some(v) => return Err(at.error(v.span(), "must not be empty")),
            None => state_db
                .parent()
                .map_or_else(|| dir.join("plugin-cache"), |p| p.join("plugin-cache")),
        };
        let mut allowed_origins = Vec::new();
        for origin in &server.allowed_origins {
            let text = origin.get_ref().trim_end_matches('/');
            let valid = (text.starts_with("http://") || text.starts_with("https://"))
                && !text
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/'));
            if !valid {
                return Err(at.error(
                    origin.span(),
                    format!("`{text}` is not an origin: write it like `http://192.168.1.20:3000`"),
                ));
            }
            allowed_origins.push(text.to_string());
        }
        let log_level = match env_nonempty("PITSTOP_LOG") {
            Some(level) => level.trim().parse().map_err(|_| {
                Error::config(
                    path,
                    format!(
                        "PITSTOP_LOG: `{level}` is not one of off, error, warn, info, debug, trace"
                    ),
                )
            })?,
            None => log::LevelFilter::Info,
        };

        // [redis]
        let redis = raw.redis;
        let url = match (env_nonempty("REDIS_URL"), &redis.url) {
            (Some(url), _) => {
                check_redis_url(&url)
                    .map_err(|m| Error::config(path, format!("REDIS_URL: {m}")))?;
                url
            }
            (None, Some(v)) => {
                check_redis_url(v.get_ref()).map_err(|m| at.error(v.span(), m))?;
                v.get_ref().clone()
            }
            (None, None) => "redis://127.0.0.1:6379/0".to_string(),
        };
        let queue = match &redis.queue {
            Some(v) if is_rq_name(v.get_ref()) => v.get_ref().clone(),
            Some(v) => {
                return Err(at.error(
                    v.span(),
                    "a queue name is letters, digits, `-`, `_`, `.` or `:`",
                ));
            }
            None => "default".to_string(),
        };
        let key_prefix = match &redis.key_prefix {
            Some(v) if is_rq_name(v.get_ref()) => v.get_ref().clone(),
            Some(v) => {
                return Err(at.error(
                    v.span(),
                    "a key prefix is letters, digits, `-`, `_`, `.` or `:`",
                ));
            }
            None => "rq".to_string(),
        };
        let timeout = at.duration(redis.timeout.as_ref(), Duration::from_secs(2))?;
        let redis = RedisConfig {
            url,
            queue,
            key_prefix,
            timeout,
        };

        // [[services]]
        let mut seen = HashSet::new();
        let mut services = Vec::new();
        for raw in raw.services {
            let name = raw.name.get_ref().trim().to_string();
            if name.is_empty() {
                return Err(at.error(raw.name.span(), "a service needs a name"));
            }
            if !seen.insert(name.clone()) {
                return Err(at.error(
                    raw.name.span(),
                    format!("service `{name}` is declared twice"),
                ));
            }
            let probe =
                parse_probe(raw.probe.get_ref()).map_err(|m| at.error(raw.probe.span(), m))?;
            let timeout = at.duration(raw.timeout.as_ref(), Duration::from_secs(3))?;
            services.push(ServiceSpec {
                name,
                probe,
                timeout,
            });
        }

        // [actions.NAME], kept in the order they are written.
        let mut raw_actions: Vec<(String, Spanned<RawAction>)> = raw.actions.into_iter().collect();
        raw_actions.sort_by_key(|(_, a)| a.span().start);
        let mut actions = Vec::new();
        for (name, raw) in raw_actions {
            let span = raw.span();
            let spec = raw
                .into_inner()
                .resolve(&name, &dir, &plugin_dir)
                .map_err(|(s, m)| {
                    let s = if s.start == 0 && s.end == 0 {
                        span.clone()
                    } else {
                        s
                    };
                    at.error(s, format!("action `{name}`: {m}"))
                })?;
            actions.push(spec);
        }

        Ok(Config {
            path: path.to_path_buf(),
            dir: dir.clone(),
            listen,
            api_key_env,
            api_key,
            threads,
            max_body,
            metrics_open,
            state_db,
            log_level,
            redis,
            services,
            actions,
            cache_dir,
            allowed_origins,
        })
    }

    /// Refuses a listen address beyond loopback unless the API key is one
    /// that cannot be guessed: set, at least [`MIN_KEY_LEN`] characters, and
    /// not the seed's published default.
    pub fn check_exposure(&self) -> Result<()> {
        if self.listen.ip().is_loopback() {
            return Ok(());
        }
        let why = match self.api_key.as_deref() {
            None => format!("`{}` is not set", self.api_key_env),
            Some(SEED_DEFAULT_KEY) => {
                format!(
                    "`{}` is the seed's published default `{SEED_DEFAULT_KEY}`",
                    self.api_key_env
                )
            }
            Some(key) if key.chars().count() < MIN_KEY_LEN => {
                format!(
                    "`{}` is shorter than {MIN_KEY_LEN} characters",
                    self.api_key_env
                )
            }
            Some(_) => return Ok(()),
        };
        Err(Error::config(
            &self.path,
            format!(
                "refusing to listen on {} (beyond this machine) because {why}; \
                 set a long random key, e.g. `export {}=$(head -c 24 /dev/urandom | base64)`, \
                 or listen on 127.0.0.1",
                self.listen, self.api_key_env
            ),
        ))
    }
}

/// Turns byte spans of the source into `file:line: key` errors.
struct Locator<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> Error {
        let (line, key) = locate(self.source, span.start);
        Error::Config {
            path: self.path.to_path_buf(),
            line: Some(line),
            key,
            message: message.into(),
        }
    }

    fn duration(&self, value: Option<&Spanned<String>>, default: Duration) -> Result<Duration> {
        match value {
            None => Ok(default),
            Some(v) => match parse_duration(v.get_ref()) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(self.error(v.span(), "must be longer than zero")),
                Err(m) => Err(self.error(v.span(), m)),
            },
        }
    }
}

/// The 1-based line of byte `offset` and the dotted key written there:
/// the nearest `[table]` or `[[array]]` header above, plus the key on the
/// line itself (the text before `=`, or the bare word at `offset`).
fn locate(source: &str, offset: usize) -> (usize, Option<String>) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    let line = &source[line_start..line_end];
    let column = offset - line_start;

    let key_on_line = match line.find('=') {
        Some(eq) if eq < column || column == 0 => Some(line[..eq].trim().to_string()),
        _ => {
            let word: String = line[column..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
                .collect();
            Some(word.trim_matches('"').to_string()).filter(|w| !w.is_empty())
        }
    };
    let header = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find_map(|l| {
            let name = l.strip_prefix("[[").and_then(|l| l.split("]]").next());
            let name = name.or_else(|| l.strip_prefix('[').and_then(|l| l.split(']').next()));
            name.map(|n| n.trim().to_string())
        });
    let key = match (header, key_on_line) {
        (Some(h), Some(k)) if !line.trim_start().starts_with('[') => Some(format!("{h}.{k}")),
        (Some(h), None) => Some(h),
        (_, k) => k,
    };
    (line_no, key)
}

fn parse_listen(text: &str) -> std::result::Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("`{text}` is not an address to listen on: write it like `127.0.0.1:8000`")
    })
}

fn check_redis_url(url: &str) -> std::result::Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("unix://")) {
        return Err(format!(
            "`{url}` is not a Redis URL: write it like `redis://127.0.0.1:6379/0`"
        ));
    }
    redis::Client::open(url)
        .map(drop)
        .map_err(|err| format!("`{url}`: {err}"))
}

fn parse_probe(text: &str) -> std::result::Result<Probe, String> {
    let text = text.trim();
    match text {
        "redis" => return Ok(Probe::Redis),
        "rq-worker" => return Ok(Probe::RqWorker),
        _ => {}
    }
    if let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        && !rest.is_empty()
        && !rest.starts_with('/')
        && !text.contains(char::is_whitespace)
    {
        return Ok(Probe::Http(text.to_string()));
    }
    if let Some(rest) = text.strip_prefix("tcp://")
        && let Some((host, port)) = rest.rsplit_once(':')
        && !host.is_empty()
        && port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Ok(Probe::Tcp(rest.to_string()));
    }
    Err(format!(
        "unknown probe `{text}`: use `redis`, `rq-worker`, `http://host:port/path`, \
         `https://…` or `tcp://host:port`"
    ))
}

/// `64KiB`, `32MiB`, `1GiB`, `512B` or a plain number of bytes.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n: usize = text[..digits].parse().ok()?;
    let unit = match text[digits..].trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_rq_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<Config> {
        Config::parse(
            Path::new("/etc/pitstop/actions.toml"),
            source,
            &Overrides::default(),
            &|_| None,
        )
    }

    fn err(source: &str) -> String {
        parse(source).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.redis.key_prefix, "rq");
        assert_eq!(c.state_db, Path::new("/etc/pitstop/pitstop.db"));
        let c = parse("[server]\nstate_db = \"var/state.db\"\n").unwrap();
        assert_eq!(c.state_db, Path::new("/etc/pitstop/var/state.db"));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        assert_eq!(
            err("[server]\nlisten = \"127.0.0.1:8000\"\ncolour = 1\n"),
            "/etc/pitstop/actions.toml:3: key `server.colour`: unknown field `colour`, expected one of `listen`, `api_key_env`, `threads`, `max_body`, `metrics`, `state_db`, `plugin_dir`, `cache_dir`, `allowed_origins`"
        );
        assert_eq!(
            err("[redis]\nqueue = \"q\"\ntimeout = \"3 parsecs\"\n"),
            "/etc/pitstop/actions.toml:3: key `redis.timeout`: invalid duration `3 parsecs`: write it like `500ms`, `30s`, `5m` or `1h`"
        );
        let e = err(
            "[[services]]\nname = \"A\"\nprobe = \"redis\"\n[[services]]\nname = \"B\"\nprobe = \"htp://x\"\n",
        );
        assert!(
            e.starts_with(
                "/etc/pitstop/actions.toml:6: key `services.probe`: unknown probe `htp://x`"
            ),
            "{e}"
        );
        let e = err(
            "[[services]]\nname = \"A\"\nprobe = \"redis\"\n[[services]]\nname = \"A\"\nprobe = \"redis\"\n",
        );
        assert!(
            e.contains(":5: key `services.name`: service `A` is declared twice"),
            "{e}"
        );
        let e = err("[server]\nlisten = \"localhost\"\n");
        assert!(
            e.contains(":2: key `server.listen`: `localhost` is not an address"),
            "{e}"
        );
        let e = err("[server]\nthreads = \"many\"\n");
        assert!(e.contains(":2: key `server.threads`"), "{e}");
        let e = err("[server\n");
        assert!(e.starts_with("/etc/pitstop/actions.toml:1"), "{e}");
    }

    #[test]
    fn environment_overrides() {
        let env = |name: &str| match name {
            "REDIS_URL" => Some("redis://10.0.0.5:6380/2".to_string()),
            "PITSTOP_LISTEN" => Some("0.0.0.0:9000".to_string()),
            "MY_KEY" => Some("k".to_string()),
            _ => None,
        };
        let source = "[server]\napi_key_env = \"MY_KEY\"\nlisten = \"127.0.0.1:1\"\n";
        let c = Config::parse(Path::new("a.toml"), source, &Overrides::default(), &env).unwrap();
        assert_eq!(c.redis.url, "redis://10.0.0.5:6380/2");
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.api_key.as_deref(), Some("k"));
        let cli = Overrides {
            listen: Some("127.0.0.1:0".into()),
        };
        let c = Config::parse(Path::new("a.toml"), source, &cli, &env).unwrap();
        assert_eq!(c.listen.port(), 0);
        let bad = |name: &str| (name == "PITSTOP_LOG").then(|| "loud".to_string());
        let e = Config::parse(Path::new("a.toml"), "", &Overrides::default(), &bad).unwrap_err();
        assert!(e.to_string().contains("PITSTOP_LOG: `loud`"), "{e}");
    }

    #[test]
    fn exposure_needs_a_real_key() {
        let with = |listen: &str, key: Option<&str>| {
            let key = key.map(str::to_string);
            let env = move |name: &str| if name == "API_KEY" { key.clone() } else { None };
            let cli = Overrides {
                listen: Some(listen.into()),
            };
            Config::parse(Path::new("a.toml"), "", &cli, &env)
                .unwrap()
                .check_exposure()
        };
        assert!(with("127.0.0.1:0", None).is_ok());
        assert!(
            with("0.0.0.0:0", None)
                .unwrap_err()
                .to_string()
                .contains("`API_KEY` is not set")
        );
        assert!(
            with("0.0.0.0:0", Some("short"))
                .unwrap_err()
                .to_string()
                .contains("shorter than 16")
        );
        assert!(
            with("0.0.0.0:0", Some(SEED_DEFAULT_KEY))
                .unwrap_err()
                .to_string()
                .contains("published default")
        );
        assert!(with("0.0.0.0:0", Some("a-long-enough-random-key")).is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("32MiB"), Some(32 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5MiB"), None);
    }
}
