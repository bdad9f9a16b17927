//! pitstop's integration tests: the real binary against a real Redis and
//! real RQ workers. `scripts/test.sh` installs what they need.

// Fixtures: redis-server, rq worker, the pitstop binary.
mod support;

// The default actions against real logs, Redis, SQLite, git.
mod actions;
// Health, auth, malformed input, idle connections, history, metrics.
mod api;
// The command line: help, version, config errors, exit codes.
mod cli;
// Job listings compared with what RQ itself reports, RQ 2 and RQ 3.
mod jobs;
// Service probes, a hanging target, Redis down and back.
mod services;
// Hostile plugins against the sandbox; `check` on plugins.
mod sandbox;
// The emergency stop against a running job on a real worker.
mod stop;
