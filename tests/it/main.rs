//! pitstop's integration tests: the real binary against a real Redis and
//! real RQ workers. `scripts/test.sh` installs what they need.

// Fixtures: redis-server, rq worker, the pitstop binary.
mod support;

// The default actions against real logs, Redis, SQLite, git.
mod actions;
// scripts/deploy.sh on real git repositories; shellcheck.
mod deploy_script;
// Health, auth, malformed input, idle connections, history, metrics.
mod api;
// The command line: help, version, config errors, exit codes.
mod cli;
// scripts/install-pi.sh into a local root: install, upgrade, rollback.
mod install;
// Job listings compared with what RQ itself reports, RQ 2 and RQ 3.
mod jobs;
// The aarch64 build under qemu: static, serves, runs a plugin.
mod pi;
// Service probes, a hanging target, Redis down and back.
mod services;
// Hostile plugins against the sandbox; `check` on plugins.
mod sandbox;
// The emergency stop against a running job on a real worker.
mod stop;
// The widget in headless Chromium; embedding and CORS.
mod widget;
