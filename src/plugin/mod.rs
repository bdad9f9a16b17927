//! The WebAssembly plugin host: one wasmtime engine, each plugin compiled
//! once (and cached on disk by content hash and engine settings), a fresh
//! store per run with the action's limits, and the host side of the WIT
//! world in `plugins/wit/action.wit` (see `host.rs`).
//!
//! The only module that knows about wasmtime. What a plugin may touch is
//! decided in `actions/grants.rs`; this module builds the WASI preopens from
//! those grants and calls the checks before every host call.
//!
//! Time is bounded twice, because epoch interruption stops only wasm code:
//! an epoch deadline traps a plugin that loops, and every blocking host
//! call (a program, Redis, SQLite, HTTP) carries the run's own deadline and
//! kills or drops what it waits on when the deadline passes.

mod host;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::actions::spec::ActionSpec;
use crate::actions::{Cause, Failure, Phase, RunLog};
use crate::config::ServiceSpec;
use crate::rq::Rq;

pub use host::HostState;

wasmtime::component::bindgen!({
    world: "action",
    path: "plugins/wit",
    imports: {
        "pitstop:action/log.log": trappable,
        "pitstop:action/log.progress": trappable,
    },
});

/// One epoch tick. Deadlines are rounded up to it.
const TICK: Duration = Duration::from_millis(10);
/// Guest stack limit; deep recursion traps instead of overflowing ours.
const MAX_WASM_STACK: usize = 512 << 10;
/// Part of the cache key: anything here that changes the compiled code.
const ENGINE_SETTINGS: &str = "epoch1-stack512k";

/// What the host needs from the rest of pitstop during a run.
#[derive(Clone)]
pub struct RunContext {
    pub rq: Arc<Rq>,
    pub redis_url: String,
    pub services: Vec<ServiceSpec>,
    pub log: Arc<RunLog>,
}

pub struct PluginHost {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    /// Prepared plugins by file path, with the file's size and modification
    /// time when it was read: a run whose file has not changed since takes
    /// it from here without reading or hashing the file again.
    prepared: Mutex<HashMap<PathBuf, (FileStamp, ActionPre<HostState>)>>,
    /// Runs in progress; the epoch ticker sleeps when there are none.
    active: Arc<AtomicUsize>,
    ticker: std::thread::Thread,
}

impl PluginHost {
    pub fn new(cache_dir: &Path) -> Result<PluginHost, String> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(MAX_WASM_STACK);
        let engine = Engine::new(&config)
            .map_err(|e| format!("cannot start the WebAssembly engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| e.to_string())?;
        Action::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| e.to_string())?;

        let active = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let (engine, active) = (engine.clone(), Arc::clone(&active));
            std::thread::Builder::new()
                .name("epoch-ticker".into())
                .spawn(move || {
                    loop {
                        if active.load(Ordering::Relaxed) == 0 {
                            std::thread::park();
                        }
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| e.to_string())?
                .thread()
                .clone()
        };
        Ok(PluginHost {
            engine,
            linker,
            cache_dir: cache_dir.to_path_buf(),
            prepared: Mutex::new(HashMap::new()),
            active,
            ticker,
        })
    }

    /// Loads, compiles (or takes from the cache) and links a plugin.
    /// Cheap after the first time for the same file content.
    pub fn prepare(&self, spec: &ActionSpec) -> Result<ActionPre<HostState>, Failure> {
        let fail = |phase, message: String| Failure::new(phase, Cause::Plugin, message);
        let unreadable = |e: std::io::Error| {
            fail(
                Phase::Load,
                format!("cannot read the plugin `{}`: {e}", spec.plugin.display()),
            )
        };
        let stamp = FileStamp::of(&spec.plugin).map_err(unreadable)?;
        if let Some((known, pre)) = crate::lock(&self.prepared).get(&spec.plugin)
            && *known == stamp
        {
            return Ok(pre.clone());
        }
        let bytes = std::fs::read(&spec.plugin).map_err(unreadable)?;
        let hash = hex(&Sha256::digest(&bytes));
        let component = self
            .compile(&bytes, &hash)
            .map_err(|e| fail(Phase::Compile, e))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(ActionPre::new)
            .map_err(|e| {
                fail(
                    Phase::Instantiate,
                    format!("the plugin does not fit pitstop's world: {}", chain(&e)),
                )
            })?;
        crate::lock(&self.prepared).insert(spec.plugin.clone(), (stamp, pre.clone()));
        Ok(pre)
    }

    /// The interfaces a plugin imports, for `pitstop check`.
    pub fn imports(&self, spec: &ActionSpec) -> Result<Vec<String>, Failure> {
        let pre = self.prepare(spec)?;
        let component = pre.instance_pre().component();
        Ok(component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect())
    }

    fn compile(&self, bytes: &[u8], hash: &str) -> Result<Component, String> {
        let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
        let file = self.cache_dir.join(format!(
            "{hash}-wasmtime48.0.8-{target}-{ENGINE_SETTINGS}.cwasm"
        ));
        if file.exists() {
            // SAFETY: the cache folder is pitstop's own (it writes every
            // file there itself); a file that does not match this engine
            // is refused by wasmtime, not executed.
            match unsafe { Component::deserialize_file(&self.engine, &file) } {
                Ok(component) => return Ok(component),
                Err(err) => log::warn!("ignoring the cached `{}`: {err}", file.display()),
            }
        }
        let started = Instant::now();
        let compiled = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| format!("not a valid component: {}", chain(&e)))?;
        log::info!(
            "compiled a plugin ({} KiB) in {} ms",
            bytes.len() >> 10,
            started.elapsed().as_millis()
        );
        let written = std::fs::create_dir_all(&self.cache_dir).and_then(|()| {
            let partial = file.with_extension("partial");
            let mut out = std::fs::File::create(&partial)?;
            out.write_all(&compiled)?;
            out.sync_all()?;
            std::fs::rename(&partial, &file)
        });
        match written {
            // SAFETY: as above; we just wrote it.
            Ok(()) => unsafe { Component::deserialize_file(&self.engine, &file) }
                .map_err(|e| e.to_string()),
            Err(err) => {
                log::warn!(
                    "cannot cache the compiled plugin in `{}`: {err}",
                    self.cache_dir.display()
                );
                // SAFETY: the bytes come from our own engine, just now.
                unsafe { Component::deserialize(&self.engine, &compiled) }
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Runs `spec`'s plugin once with `input` (the request as JSON) and
    /// returns its report, or a failure naming phase and cause.
    pub fn run(
        &self,
        spec: &ActionSpec,
        input: &str,
        params: std::collections::BTreeMap<String, String>,
        ctx: RunContext,
    ) -> Result<String, Failure> {
        let pre = self.prepare(spec)?;
        let deadline = Instant::now() + spec.timeout;
        let stdout = MemoryOutputPipe::new(spec.output);
        let stderr = MemoryOutputPipe::new(spec.output);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true);
        for grant in &spec.grants.files {
            let guest = grant.path.to_string_lossy().into_owned();
            let perms = if grant.write {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&grant.path, &guest, perms)
                .map_err(|e| {
                    Failure::new(
                        Phase::Instantiate,
                        Cause::Plugin,
                        format!(
                            "cannot open the granted folder `{}`: {}",
                            grant.path.display(),
                            chain(&e)
                        ),
                    )
                })?;
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(spec.memory)
            .instances(10)
            .tables(10)
            .memories(4)
            .table_elements(100_000)
            .trap_on_grow_failure(true)
            .build();
        let log = Arc::clone(&ctx.log);
        let state = HostState::new(
            spec.clone(),
            params,
            deadline,
            wasi.build(),
            ResourceTable::new(),
            limits,
            ctx,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = spec.timeout.as_millis().div_ceil(TICK.as_millis()) as u64;
        store.set_epoch_deadline(ticks.max(1));
        store.epoch_deadline_trap();

        let ticking = Ticking::start(self);
        let outcome = pre
            .instantiate(&mut store)
            .map_err(|e| (Phase::Instantiate, e))
            .and_then(|action| {
                action
                    .call_run(&mut store, input)
                    .map_err(|e| (Phase::Run, e))
            });
        drop(ticking);

        let state = store.data();
        let output_full =
            stdout.contents().len() >= spec.output || stderr.contents().len() >= spec.output;
        for (name, pipe) in [("stdout", &stdout), ("stderr", &stderr)] {
            let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(200) {
                log.line(if name == "stdout" { "info" } else { "warn" }, line);
            }
        }
        match outcome {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(message)) => {
                if state.timed_out.is_some() {
                    Err(Failure::new(
                        Phase::HostCall,
                        Cause::Timeout,
                        format!("ran out of its {:?}: {message}", spec.timeout),
                    ))
                } else if let Some(denied) = &state.denied {
                    Err(Failure::new(
                        Phase::HostCall,
                        Cause::Denied(denied.clone()),
                        message,
                    ))
                } else {
                    Err(Failure::new(Phase::Run, Cause::Plugin, message))
                }
            }
            Err((phase, error)) => {
                let text = chain(&error);
                let cause = if state.output_exceeded || output_full {
                    Cause::Output
                } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    Cause::Timeout
                } else if text.contains("forcing trap when growing memory") {
                    Cause::Memory
                } else {
                    Cause::Trap
                };
                // A host call that hit the deadline returns just as the
                // epoch deadline traps the plugin: name the host call.
                if let (Cause::Timeout, Some(host)) = (&cause, &state.timed_out) {
                    return Err(Failure::new(
                        Phase::HostCall,
                        Cause::Timeout,
                        format!("ran out of its {:?}: {host}", spec.timeout),
                    ));
                }
                let message = match &cause {
                    Cause::Timeout => format!("stopped at its time limit of {:?}", spec.timeout),
                    Cause::Memory => {
                        format!("went over its memory limit of {} MiB", spec.memory >> 20)
                    }
                    Cause::Output => {
                        format!("went over its output limit of {} KiB", spec.output >> 10)
                    }
                    _ => format!("crashed: {text}"),
                };
                Err(Failure::new(phase, cause, message))
            }
        }
    }
}

/// What tells a plugin file has changed without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Keeps the epoch ticker running while a run is in progress, even when
/// the run ends by a panic.
struct Ticking<'a>(&'a PluginHost);

impl<'a> Ticking<'a> {
    fn start(host: &'a PluginHost) -> Ticking<'a> {
        host.active.fetch_add(1, Ordering::Relaxed);
        host.ticker.unpark();
        Ticking(host)
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The shared host, started on first use: creating the engine costs a few
/// milliseconds and a thread, which `pitstop status` never needs.
pub fn shared(cache_dir: &Path) -> Result<&'static PluginHost, String> {
    static HOST: OnceLock<Result<PluginHost, String>> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(cache_dir))
        .as_ref()
        .map_err(Clone::clone)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An error with its causes, on one line.
fn chain(error: &wasmtime::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}
