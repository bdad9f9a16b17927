//! The host side of the WIT world: one `impl Host` per interface. Every
//! function that touches anything first asks the action's [`Grants`]
//! (`actions/grants.rs`), and every blocking call is bounded by the run's
//! deadline. A refusal is returned to the plugin as an error value (and
//! remembered, so a run that fails after it is reported as denied).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::RunContext;
use super::pitstop::action::{files, http, log, process, redis as redis_api, services, sqlite};
use crate::actions::grants::{Denied, Grants, show_argv};
use crate::actions::spec::ActionSpec;

/// The search path given to programs (their environment is otherwise
/// empty but for the grant's `env`).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything one run's store holds.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    spec: ActionSpec,
    params: BTreeMap<String, String>,
    deadline: Instant,
    ctx: RunContext,
    redis: Option<::redis::Connection>,
    sqlite: Option<(rusqlite::Connection, mpsc::Sender<()>)>,
    /// Bytes logged so far, against the action's output limit.
    logged: usize,
    pub(super) output_exceeded: bool,
    /// The last refusal, naming the grant.
    pub(super) denied: Option<String>,
    /// A host call ran into the run's deadline.
    /// What a host call that ran into the run's deadline said.
    pub(super) timed_out: Option<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    pub(super) fn new(
        spec: ActionSpec,
        params: BTreeMap<String, String>,
        deadline: Instant,
        wasi: WasiCtx,
        table: ResourceTable,
        limits: StoreLimits,
        ctx: RunContext,
    ) -> HostState {
        HostState {
            wasi,
            table,
            limits,
            spec,
            params,
            deadline,
            ctx,
            redis: None,
            sqlite: None,
            logged: 0,
            output_exceeded: false,
            denied: None,
            timed_out: None,
        }
    }

    fn grants(&self) -> &Grants {
        &self.spec.grants
    }

    /// Records a refusal and turns it into the plugin's error value.
    fn deny(&mut self, denied: Denied) -> String {
        let message = denied.to_string();
        ::log::warn!("action `{}`: {message}", self.spec.name);
        self.ctx.log.line("error", &message);
        self.denied = Some(message.clone());
        message
    }

    /// Time left before the run's deadline, or an error once it is gone.
    fn remaining(&mut self) -> Result<Duration, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(self.timeout(format!(
                "timed out: the action's {:?} are over",
                self.spec.timeout
            )))
        } else {
            Ok(left)
        }
    }

    /// Records that a host call ran into the deadline, and says so.
    fn timeout(&mut self, message: String) -> String {
        self.timed_out = Some(message.clone());
        message
    }

    fn count_output(&mut self, bytes: usize) -> wasmtime::Result<()> {
        self.logged += bytes;
        if self.logged > self.spec.output {
            self.output_exceeded = true;
            wasmtime::bail!("output limit of {} KiB reached", self.spec.output >> 10);
        }
        Ok(())
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.count_output(message.len())?;
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.ctx.log.line(level, &message);
        Ok(())
    }

    fn progress(&mut self, percent: u8, step: String) -> wasmtime::Result<()> {
        self.count_output(step.len())?;
        self.ctx.log.progress(percent.min(100), &step);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Redis

impl HostState {
    fn redis_conn(&mut self) -> Result<&mut ::redis::Connection, String> {
        let left = self.remaining()?;
        if self.redis.is_none() {
            let client =
                ::redis::Client::open(self.ctx.redis_url.as_str()).map_err(|e| e.to_string())?;
            let conn = client
                .get_connection_with_timeout(left.min(Duration::from_secs(5)))
                .map_err(|e| format!("redis: {}", crate::error::describe_redis_error(&e)))?;
            self.redis = Some(conn);
        }
        let conn = self.redis.as_mut().expect("just set");
        conn.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        conn.set_write_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    fn redis_failed(&mut self, err: ::redis::RedisError) -> String {
        if err.is_io_error() || err.is_timeout() {
            self.redis = None;
        }
        let message = format!("redis: {}", crate::error::describe_redis_error(&err));
        if err.is_timeout() {
            return self.timeout(message);
        }
        message
    }
}

impl redis_api::Host for HostState {
    fn command(&mut self, args: Vec<String>) -> Result<String, String> {
        if let Err(denied) = self.grants().check_redis(&args) {
            return Err(self.deny(denied));
        }
        let mut cmd = ::redis::cmd(&args[0]);
        for arg in &args[1..] {
            cmd.arg(arg);
        }
        let reply = cmd.query::<::redis::Value>(self.redis_conn()?);
        match reply {
            Ok(value) => Ok(to_json(&value).to_string()),
            Err(err) => Err(self.redis_failed(err)),
        }
    }

    fn pipeline(&mut self, commands: Vec<Vec<String>>, atomic: bool) -> Result<String, String> {
        for args in &commands {
            if let Err(denied) = self.grants().check_redis(args) {
                return Err(self.deny(denied));
            }
        }
        let mut pipe = ::redis::pipe();
        if atomic {
            pipe.atomic();
        }
        for args in &commands {
            pipe.cmd(&args[0]);
            for arg in &args[1..] {
                pipe.arg(arg);
            }
        }
        let reply = pipe.query::<Vec<::redis::Value>>(self.redis_conn()?);
        match reply {
            Ok(values) => {
                Ok(serde_json::Value::Array(values.iter().map(to_json).collect()).to_string())
            }
            Err(err) => Err(self.redis_failed(err)),
        }
    }
}

fn to_json(value: &::redis::Value) -> serde_json::Value {
    use ::redis::Value as V;
    match value {
        V::Nil => serde_json::Value::Null,
        V::Int(n) => (*n).into(),
        V::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned().into(),
        V::SimpleString(s) => s.clone().into(),
        V::Okay => "OK".into(),
        V::Double(d) => (*d).into(),
        V::Boolean(b) => (*b).into(),
        V::Array(items) | V::Set(items) => items.iter().map(to_json).collect(),
        V::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| [to_json(k), to_json(v)])
            .collect(),
        V::VerbatimString { text, .. } => text.clone().into(),
        other => format!("{other:?}").into(),
    }
}

// ---------------------------------------------------------------------------
// SQLite

impl HostState {
    /// The granted database, opened on first use: read-only unless the
    /// grant says `write`, no ATTACH (the attached-database limit is 0), no
    /// extensions, and a busy timeout up to the deadline, so a database
    /// the bot holds is waited for rather than failed on.
    fn sqlite_conn(&mut self) -> Result<&rusqlite::Connection, String> {
        let grant = match self.grants().check_sqlite() {
            Ok(g) => g.clone(),
            Err(denied) => return Err(self.deny(denied)),
        };
        let left = self.remaining()?;
        if self.sqlite.is_none() {
            use rusqlite::OpenFlags;
            let mode = if grant.write {
                OpenFlags::SQLITE_OPEN_READ_WRITE
            } else {
                OpenFlags::SQLITE_OPEN_READ_ONLY
            };
            let mut conn = rusqlite::Connection::open_with_flags(
                &grant.path,
                mode | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| format!("cannot open `{}`: {e}", grant.path.display()))?;
            // ATTACH would reach other files: only the empty name (a private
            // temporary database, which VACUUM itself attaches) is allowed,
            // and no more than one at a time.
            conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 1)
                .map_err(|e| e.to_string())?;
            conn.authorizer(Some(|ctx: rusqlite::hooks::AuthContext<'_>| {
                match ctx.action {
                    rusqlite::hooks::AuthAction::Attach { filename } if !filename.is_empty() => {
                        rusqlite::hooks::Authorization::Deny
                    }
                    _ => rusqlite::hooks::Authorization::Allow,
                }
            }))
            .map_err(|e| e.to_string())?;
            // A long statement is interrupted at the deadline.
            let interrupt = conn.get_interrupt_handle();
            let (tx, rx) = mpsc::channel::<()>();
            std::thread::spawn(move || {
                if rx.recv_timeout(left) == Err(mpsc::RecvTimeoutError::Timeout) {
                    interrupt.interrupt();
                }
            });
            self.sqlite = Some((conn, tx));
        }
        let conn = &self.sqlite.as_ref().expect("just set").0;
        conn.busy_timeout(left).map_err(|e| e.to_string())?;
        Ok(conn)
    }

    fn sqlite_failed(&mut self, err: rusqlite::Error) -> String {
        let text = err.to_string();
        if text.contains("too many attached databases") || text.contains("not authorized") {
            return self.deny(Denied(
                "ATTACH is not allowed: `grants.sqlite` gives exactly one database".into(),
            ));
        }
        if text.contains("readonly database")
            && self.grants().sqlite.as_ref().is_some_and(|g| !g.write)
        {
            return self.deny(Denied(
                "`grants.sqlite.write` is not true: the database is read-only".into(),
            ));
        }
        if text.contains("interrupted") {
            return self.timeout(format!(
                "timed out: SQLite was interrupted at the deadline ({text})"
            ));
        }
        if text.contains("database is locked") || text.contains("busy") {
            return format!(
                "the database stayed locked by another program until the deadline: {text}"
            );
        }
        text
    }
}

impl sqlite::Host for HostState {
    fn execute(&mut self, sql: String, params: Vec<String>) -> Result<u64, String> {
        let result = {
            let conn = self.sqlite_conn()?;
            if params.is_empty() {
                conn.execute_batch(&sql).map(|()| conn.changes())
            } else {
                conn.execute(&sql, rusqlite::params_from_iter(params.iter()))
                    .map(|n| n as u64)
            }
        };
        result.map_err(|e| self.sqlite_failed(e))
    }

    fn query(&mut self, sql: String, params: Vec<String>) -> Result<String, String> {
        let limit = self.spec.output;
        let result = (|| {
            let conn = self.sqlite_conn().map_err(Err)?;
            let mut stmt = conn.prepare(&sql).map_err(Ok)?;
            let columns = stmt.column_count();
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(Ok)?;
            let (mut out, mut size) = (Vec::new(), 0usize);
            while let Some(row) = rows.next().map_err(Ok)? {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    use rusqlite::types::ValueRef;
                    let v: serde_json::Value = match row.get_ref(i).map_err(Ok)? {
                        ValueRef::Null => serde_json::Value::Null,
                        ValueRef::Integer(n) => n.into(),
                        ValueRef::Real(f) => f.into(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                        ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
                    };
                    size += v.to_string().len();
                    values.push(v);
                }
                if size > limit {
                    return Err(Err(format!(
                        "the rows are larger than the output limit of {} KiB",
                        limit >> 10
                    )));
                }
                out.push(serde_json::Value::Array(values));
            }
            Ok(serde_json::Value::Array(out).to_string())
        })();
        result.map_err(|e: Result<rusqlite::Error, String>| match e {
            Ok(err) => self.sqlite_failed(err),
            Err(message) => message,
        })
    }

    fn backup(&mut self, keep: u32) -> Result<String, String> {
        let grant = match self.grants().check_sqlite() {
            Ok(g) => g.clone(),
            Err(denied) => return Err(self.deny(denied)),
        };
        let Some(dir) = grant.backups.clone() else {
            return Err(self.deny(Denied(
                "`grants.sqlite.backups` names no folder for backups".into(),
            )));
        };
        let stem = grant
            .path
            .file_stem()
            .map_or("database".into(), |s| s.to_string_lossy().into_owned());
        let stamp = crate::clock::now_iso().replace(['-', ':'], "");
        let name = format!("{stem}-{stamp}.db");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let target = dir.join(&name);
        let partial = dir.join(format!("{name}.partial"));
        let left = self.remaining()?;
        let result = {
            let conn = self.sqlite_conn()?;
            (|| -> Result<(), String> {
                let mut dst = rusqlite::Connection::open(&partial).map_err(|e| e.to_string())?;
                let backup =
                    rusqlite::backup::Backup::new(conn, &mut dst).map_err(|e| e.to_string())?;
                // Small steps with pauses let the bot write between them.
                let started = Instant::now();
                loop {
                    match backup.step(256).map_err(|e| e.to_string())? {
                        rusqlite::backup::StepResult::Done => break,
                        _ if started.elapsed() > left => {
                            return Err("timed out during the backup".into());
                        }
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                drop(backup);
                dst.close().map_err(|(_, e)| e.to_string())?;
                std::fs::File::open(&partial)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| e.to_string())?;
                std::fs::rename(&partial, &target).map_err(|e| e.to_string())
            })()
        };
        if let Err(message) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(format!(
                "backup of `{}` failed: {message}",
                grant.path.display()
            ));
        }
        // Keep the newest `keep` backups of this database (names sort by time).
        let mut backups: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{stem}-")) && n.ends_with(".db"))
            .collect();
        backups.sort();
        let excess = backups.len().saturating_sub(keep.max(1) as usize);
        for old in &backups[..excess] {
            let _ = std::fs::remove_file(dir.join(old));
        }
        Ok(name)
    }
}

// ---------------------------------------------------------------------------
// Programs

impl process::Host for HostState {
    fn run(&mut self, argv: Vec<String>) -> Result<process::Output, String> {
        if let Err(denied) = self.grants().check_command(&argv, &self.params) {
            return Err(self.deny(denied));
        }
        let left = self.remaining()?;
        if !self.spec.workdir.is_dir() {
            return Err(format!(
                "the action's `workdir` `{}` is not a folder",
                self.spec.workdir.display()
            ));
        }
        let path = self
            .spec
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH.to_string(), |(_, v)| v.clone());
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_clear()
            .env("PATH", path)
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.spec.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", show_argv(&argv)))?;
        self.ctx.log.line("info", &format!("$ {}", argv.join(" ")));
        let cap = self.spec.output;
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                if let Some(mut pipe) = pipe {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = pipe.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let room = cap.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
                kept
            })
        };
        let out = read(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = read(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + left;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(format!("waiting for {}: {e}", show_argv(&argv))),
            }
        };
        let Some(status) = status else {
            // SAFETY: kill(2) on the child's own process group.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
            return Err(self.timeout(format!(
                "timed out: {} was killed at the action's deadline",
                show_argv(&argv)
            )));
        };
        let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        Ok(process::Output {
            status: status.code().unwrap_or(-1),
            stdout,
            stderr,
        })
    }
}

// ---------------------------------------------------------------------------
// HTTP

impl http::Host for HostState {
    fn request(
        &mut self,
        method: String,
        url: String,
        body: Option<String>,
    ) -> Result<http::Response, String> {
        if let Err(denied) = self.grants().check_http(&url) {
            return Err(self.deny(denied));
        }
        let left = self.remaining()?;
        let agent = crate::services::http_agent(left);
        let method = method.to_ascii_uppercase();
        let response = match (method.as_str(), body) {
            ("GET", _) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).call(),
            ("HEAD", _) => agent.head(&url).call(),
            ("POST", b) => agent.post(&url).send(b.unwrap_or_default()),
            ("PUT", b) => agent.put(&url).send(b.unwrap_or_default()),
            ("PATCH", b) => agent.patch(&url).send(b.unwrap_or_default()),
            (other, _) => return Err(format!("unsupported HTTP method `{other}`")),
        };
        match response {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let limit = self.spec.output as u64;
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(limit)
                    .read_to_string()
                    .unwrap_or_default();
                Ok(http::Response { status, body })
            }
            Err(ureq::Error::Timeout(_)) => Err(self.timeout(format!(
                "timed out: no answer from `{url}` before the deadline"
            ))),
            Err(err) => Err(format!("`{url}`: {err}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Service status

impl services::Host for HostState {
    fn status(&mut self) -> Result<Vec<services::Service>, String> {
        if let Err(denied) = self.grants().check_services() {
            return Err(self.deny(denied));
        }
        let statuses = crate::services::probe_all(&self.ctx.services, &self.ctx.rq);
        Ok(statuses
            .into_iter()
            .map(|s| services::Service {
                name: s.name,
                status: s.status.to_string(),
                detail: s.detail,
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------
// Files

impl files::Host for HostState {
    fn trim_front(&mut self, path: String, offset: u64) -> Result<files::Trimmed, String> {
        let real = match self.grants().check_file_write(&path) {
            Ok(real) => real,
            Err(denied) => return Err(self.deny(denied)),
        };
        trim_front(&real, offset).map_err(|e| format!("cannot trim `{path}`: {e}"))
    }
}

/// Removes bytes `[0, offset)` of a file that others may be appending to
/// (with `O_APPEND`, as loggers do), losing none of their lines.
///
/// Where the filesystem can (ext4, XFS), the block-aligned part of the
/// range is removed with `FALLOC_FL_COLLAPSE_RANGE`, which the kernel does
/// under the inode lock, atomically with respect to appends. The few bytes
/// left before `offset` (less than a block, the end of a removed line) are
/// overwritten in place with a marker line of the same length. Elsewhere
/// the kept part is copied down and the file truncated; see the plugin
/// guide for the one narrow window that leaves.
fn trim_front(path: &std::path::Path, offset: u64) -> std::io::Result<files::Trimmed> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileExt, MetadataExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let meta = file.metadata()?;
    if offset == 0 {
        return Ok(files::Trimmed {
            bytes_removed: 0,
            lines_removed: 0,
            method: "none".into(),
        });
    }
    if offset > meta.len() {
        return Err(std::io::Error::other(format!(
            "offset {offset} is past the end ({} bytes)",
            meta.len()
        )));
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, offset - 1)?;
    if last[0] != b'\n' {
        return Err(std::io::Error::other(format!(
            "offset {offset} is not the start of a line"
        )));
    }
    // Count the lines removed, natively, in large reads.
    let mut lines: u64 = 0;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, &file);
    reader.seek(SeekFrom::Start(0))?;
    let mut left = offset;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = reader.read(&mut buf[..left.min(1 << 20) as usize])?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        left -= n as u64;
    }
    // The marker line, padded with spaces to exactly `room` bytes: it
    // overwrites removed bytes only, never a kept one. The callers make
    // room for the whole text and its newline.
    let text = format!("[pitstop] {lines} older lines removed");
    let needed = text.len() as u64 + 1;
    let marker = |room: usize| -> Vec<u8> {
        debug_assert!(room >= text.len(), "no room for the marker");
        let mut bytes = text.clone().into_bytes();
        bytes.resize(room, b' ');
        bytes
    };

    let block = u64::from(meta.blksize().max(512) as u32);
    let mut aligned = offset - offset % block;
    if offset - aligned < needed && aligned >= block {
        // Leave room for the whole marker line: a block is far more than
        // its text and newline need.
        aligned -= block;
    }
    if aligned > 0 {
        // SAFETY: fallocate on our own open descriptor.
        let rc = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_COLLAPSE_RANGE,
                0,
                aligned as libc::off_t,
            )
        };
        if rc == 0 {
            let rest = (offset - aligned) as usize;
            if rest > 1 {
                file.write_all_at(&marker(rest - 1), 0)?;
            }
            file.sync_data()?;
            return Ok(files::Trimmed {
                bytes_removed: aligned,
                lines_removed: lines,
                method: "collapse".into(),
            });
        }
    }

    // Copy down: the kept part moves to just after a marker line, then the
    // file is cut at the new end. Appends that land while copying are
    // copied too; only one landing between the last size check and the
    // truncate itself could be lost.
    // The head is written over bytes already copied away, so it must not
    // be longer than what is removed; a tiny cut gets no marker.
    let head = if offset >= needed {
        let mut m = marker(text.len());
        m.push(b'\n');
        m
    } else {
        Vec::new()
    };
    let mut read_at = offset;
    let mut write_at = head.len() as u64;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read_at(&mut chunk, read_at)?;
        if n == 0 {
            // Caught up: one more look at the size, then cut.
            if file.metadata()?.len() > read_at {
                continue;
            }
            file.set_len(write_at)?;
            break;
        }
        file.write_all_at(&chunk[..n], write_at)?;
        read_at += n as u64;
        write_at += n as u64;
    }
    file.write_all_at(&head, 0)?;
    file.sync_data()?;
    let _ = (&file).flush();
    Ok(files::Trimmed {
        bytes_removed: offset - head.len() as u64,
        lines_removed: lines,
        method: "copy".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::trim_front;

    /// Cuts a log at every line start from just before to well after a
    /// block boundary (and at a few small offsets, which take the copy
    /// path): the first line is the whole marker (when the cut is long
    /// enough to hold it), then exactly the lines from the cut on.
    #[test]
    fn trim_front_always_leaves_a_whole_marker_then_the_kept_lines() {
        let dir = std::env::temp_dir().join(format!("pitstop-trim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bot.log");
        // Seven-byte lines over seven 4 KiB block boundaries: 4096 * k is
        // k modulo 7, so some line starts at every offset from 0 to 80
        // bytes after a boundary (and just before one).
        let lines: Vec<String> = (0..4200).map(|i| format!("{i:06}\n")).collect();
        let text = lines.concat();
        let cuts = (0..lines.len())
            .filter(|i| {
                let at = 7 * i;
                at % 4096 < 80 || at % 4096 > 4090 || (1..12).contains(i)
            })
            .filter(|&i| i > 0);
        for cut in cuts {
            std::fs::write(&path, &text).unwrap();
            let trimmed = trim_front(&path, 7 * cut as u64).unwrap();
            assert_eq!(trimmed.lines_removed, cut as u64);
            let after = std::fs::read_to_string(&path).unwrap();
            let mut left = after.lines();
            let marker = format!("[pitstop] {cut} older lines removed");
            // A cut shorter than the marker line has no room for it.
            if 7 * cut > marker.len() {
                let first = left.next().unwrap();
                assert_eq!(
                    first.trim_end(),
                    marker,
                    "cut at line {cut} ({})",
                    trimmed.method
                );
            }
            let kept: Vec<&str> = left.collect();
            let expected: Vec<&str> = lines[cut..].iter().map(|l| l.trim_end()).collect();
            assert!(
                kept == expected,
                "cut at line {cut} ({}): kept {} lines from {:?}, expected {} from {:?}",
                trimmed.method,
                kept.len(),
                kept.first(),
                expected.len(),
                expected.first()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
