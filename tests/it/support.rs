//! Test fixtures: real processes on free loopback ports.
//!
//! - [`Redis`]: a `redis-server` with no persistence in a temp dir.
//! - [`Worker`]: a real forking `rq worker` from a virtualenv made by
//!   `scripts/test.sh` (`.venv/rq-2` and `.venv/rq-3`).
//! - [`Pitstop`]: the real `pitstop` binary, `serve` on port 0, with its
//!   own `actions.toml` in a temp dir.
//!
//! Every process is killed when its fixture is dropped, even when a test
//! fails halfway.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const KEY: &str = "test-key-0123456789abcdef";
pub const QUEUE: &str = "linkedin-bot";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pitstop")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder under `target/it-tmp`, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = repo()
            .join("target")
            .join("it-tmp")
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `chmod 755`, for the stand-in scripts the tests write.
pub fn make_executable(path: &Path) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 50 ms until it is true or `limit` passes.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGKILL to a whole process group.
fn kill_group(pid: u32) {
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

// ---------------------------------------------------------------------------

pub struct Redis {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            dir: TempDir::new("redis"),
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: run scripts/test.sh, which installs it");
        self.child = Some(child);
        wait_until(
            Duration::from_secs(10),
            "redis-server to answer PING",
            || {
                self.conn_opt()
                    .is_some_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
            },
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn conn_opt(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url()).ok()?;
        client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()
    }

    pub fn conn(&self) -> redis::Connection {
        self.conn_opt().expect("connect to the test redis")
    }

    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.conn())
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------

/// Which RQ the Python side runs.
#[derive(Clone, Copy, Debug)]
pub enum RqVersion {
    Two,
    Three,
}

impl RqVersion {
    pub fn venv(self) -> PathBuf {
        let name = match self {
            RqVersion::Two => "rq-2",
            RqVersion::Three => "rq-3",
        };
        let venv = repo().join(".venv").join(name);
        assert!(
            venv.join("bin/rq").exists(),
            "{} is missing: run scripts/test.sh, which creates the RQ virtualenvs",
            venv.display()
        );
        venv
    }

    /// Runs `tests/rq/ctl.py` and returns its stdout.
    pub fn ctl(self, redis: &Redis, args: &[&str]) -> String {
        self.ctl_with_prefix(redis, "rq", args)
    }

    /// [`RqVersion::ctl`] with `RQ_KEY_PREFIX` set (RQ 3 reads it).
    pub fn ctl_with_prefix(self, redis: &Redis, prefix: &str, args: &[&str]) -> String {
        let out = Command::new(self.venv().join("bin/python"))
            .arg(repo().join("tests/rq/ctl.py"))
            .arg(redis.url())
            .arg(QUEUE)
            .args(args)
            .env("PYTHONPATH", repo().join("tests/rq"))
            .env("RQ_KEY_PREFIX", prefix)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ctl.py {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn describe(self, redis: &Redis) -> serde_json::Value {
        serde_json::from_str(&self.ctl(redis, &["describe"])).unwrap()
    }
}

pub struct Worker {
    pub name: String,
    child: Child,
}

impl Worker {
    /// A forking `rq worker` on [`QUEUE`], registered before this returns.
    pub fn start(redis: &Redis, version: RqVersion, name: &str) -> Worker {
        Worker::start_with_prefix(redis, version, name, "rq")
    }

    /// With `RQ_KEY_PREFIX` set to `prefix` (RQ 3 reads it).
    pub fn start_with_prefix(
        redis: &Redis,
        version: RqVersion,
        name: &str,
        prefix: &str,
    ) -> Worker {
        use std::os::unix::process::CommandExt;
        let log =
            std::fs::File::create(redis.dir.path().join(format!("worker-{name}.log"))).unwrap();
        let child = Command::new(version.venv().join("bin/rq"))
            .args(["worker", QUEUE, "--url", &redis.url(), "--name", name])
            .env("PYTHONPATH", repo().join("tests/rq"))
            .env("RQ_KEY_PREFIX", prefix)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let key = format!("{prefix}:workers:{QUEUE}");
        let member = format!("{prefix}:worker:{name}");
        let channel = format!("{prefix}:pubsub:{name}");
        wait_until(
            Duration::from_secs(30),
            "the rq worker to register and subscribe",
            || {
                let registered: bool = redis.cmd(&["SISMEMBER", &key, &member]);
                let subs: Vec<redis::Value> = redis.cmd(&["PUBSUB", "NUMSUB", &channel]);
                registered && matches!(subs.get(1), Some(redis::Value::Int(n)) if *n > 0)
            },
        );
        Worker {
            name: name.to_string(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pids of the worker's children (its work-horse, while a job runs).
    pub fn horses(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Field 4 (after the parenthesised name) is the parent pid.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            let ppid: Option<u32> = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            let zombie = after.split_whitespace().next() == Some("Z");
            if ppid == Some(self.pid()) && !zombie {
                pids.push(pid);
            }
        }
        pids
    }

    pub fn log(&self, redis: &Redis) -> String {
        std::fs::read_to_string(redis.dir.path().join(format!("worker-{}.log", self.name)))
            .unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------

pub struct Pitstop {
    pub addr: SocketAddr,
    pub dir: TempDir,
    child: Child,
}

/// An `actions.toml` pointing at `redis_url`, with the given extra text.
pub fn config(redis_url: &str, extra: &str) -> String {
    format!("[redis]\nurl = \"{redis_url}\"\nqueue = \"{QUEUE}\"\ntimeout = \"1s\"\n\n{extra}")
}

impl Pitstop {
    /// `pitstop serve` on 127.0.0.1:0 with `API_KEY` = [`KEY`].
    pub fn start(config: &str) -> Pitstop {
        Pitstop::start_with_env(config, &[("API_KEY", KEY)])
    }

    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Pitstop {
        Pitstop::spawn(config, env, None)
    }

    /// With the open-file limit (soft and hard) set to `nofile`, to reach
    /// descriptor exhaustion with a few dozen connections.
    pub fn start_with_fd_limit(config: &str, nofile: u32) -> Pitstop {
        Pitstop::spawn(config, &[("API_KEY", KEY)], Some(nofile))
    }

    fn spawn(config: &str, env: &[(&str, &str)], nofile: Option<u32>) -> Pitstop {
        let dir = TempDir::new("pitstop");
        let config_path = dir.path().join("actions.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr = std::fs::File::create(dir.path().join("pitstop.log")).unwrap();
        let mut command = match nofile {
            None => Command::new(bin()),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin()]);
                c
            }
        };
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(dir.path().join("pitstop.log")).unwrap_or_default();
                panic!("pitstop did not start listening:\n{log}");
            }
        };
        Pitstop { addr, dir, child }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pitstop.log")).unwrap_or_default()
    }

    /// GET with the test key.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.request("GET", path, Some(KEY), None)
    }

    /// POST a JSON body with the test key.
    pub fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        self.request("POST", path, Some(KEY), Some(body))
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self.request_text(method, path, key, body);
        let value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path} answered {status} with non-JSON ({e}): {text}")
        });
        (status, value)
    }

    pub fn request_text(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(key) = key {
            head.push_str(&format!("X-API-Key: {key}\r\n"));
        }
        let body = body.unwrap_or("");
        if method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let response = self.raw(format!("{head}{body}").as_bytes());
        parse_response(&response)
            .unwrap_or_else(|| panic!("{method} {path}: unreadable response {response:?}"))
    }

    /// Sends raw bytes on a new connection and reads until the server
    /// closes it (or 30 s pass).
    pub fn raw(&self, bytes: &[u8]) -> String {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `/health` answered 200, without panicking when the connection fails.
    pub fn try_health(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(self.addr) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        if stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200")
    }

    pub fn health_ok(&self) -> bool {
        let (status, body) = self.request("GET", "/health", None, None);
        status == 200 && body["status"] == "ok"
    }
}

impl Drop for Pitstop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- pitstop log ---\n{}", self.log());
        }
    }
}

/// Status code and body of a `Connection: close` HTTP/1.1 response,
/// de-chunked when needed.
pub fn parse_response(response: &str) -> Option<(u16, String)> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Runs the binary with arguments and environment (nothing inherited but
/// PATH).
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------

/// The folder with every built plugin: the default ones
/// (`scripts/build-plugins.sh`) and the hostile test one
/// (`tests/plugins`). Built once per test run; cargo makes it quick when
/// nothing changed.
pub fn plugin_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(repo().join("scripts/build-plugins.sh"))
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "scripts/build-plugins.sh failed");
            let status = Command::new("cargo")
                .args(["build", "--release", "--locked", "--quiet"])
                .current_dir(repo().join("tests/plugins"))
                .status()
                .unwrap();
            assert!(status.success(), "building tests/plugins failed");
            // A folder of the tests' own: the default plugins plus the
            // hostile one, which must never sit beside the real ones.
            let dir = repo().join("target/plugins-test");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(repo().join("target/plugins"))
                .unwrap()
                .flatten()
            {
                std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
            }
            std::fs::copy(
                repo().join("target/plugins-test-build/wasm32-wasip2/release/hostile.wasm"),
                dir.join("hostile.wasm"),
            )
            .unwrap();
            dir
        })
        .clone()
}

/// [`config`] plus `[server] plugin_dir` pointing at the built plugins and
/// a plugin cache in `cache`.
pub fn plugin_config(redis_url: &str, cache: &Path, actions: &str) -> String {
    format!(
        "[server]\nplugin_dir = \"{}\"\ncache_dir = \"{}\"\n\n{}",
        plugin_dir().display(),
        cache.display(),
        config(redis_url, actions)
    )
}

// ---------------------------------------------------------------------------
// Git

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare remote, the app's clone (where the bot runs) and a developer's
/// clone that pushes new commits.
pub struct Repos {
    pub app: PathBuf,
    pub dev: PathBuf,
}

pub fn repos(root: &Path) -> Repos {
    let remote = root.join("remote.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "--bare", "-b", "main"]);
    let dev = root.join("dev");
    git(root, &["clone", "-q", remote.to_str().unwrap(), "dev"]);
    std::fs::write(dev.join("status"), "ok\n").unwrap();
    std::fs::write(dev.join("bot.py"), "print('v1')\n").unwrap();
    git(&dev, &["add", "."]);
    git(&dev, &["commit", "-qm", "v1"]);
    git(&dev, &["push", "-q", "origin", "HEAD:main"]);
    git(root, &["clone", "-q", remote.to_str().unwrap(), "app"]);
    Repos {
        app: root.join("app"),
        dev,
    }
}

pub fn push(repos: &Repos, file: &str, content: &str, message: &str) -> String {
    std::fs::write(repos.dev.join(file), content).unwrap();
    git(&repos.dev, &["commit", "-qam", message]);
    git(&repos.dev, &["push", "-q", "origin", "HEAD:main"]);
    git(&repos.dev, &["rev-parse", "HEAD"])
}
