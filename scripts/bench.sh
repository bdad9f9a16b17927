#!/usr/bin/env bash
# pitstop's benchmark (not a test: it measures and prints, and never fails
# on a number). Builds the release binary, installs wrk and redis-server if
# missing, and runs scripts/bench.py, which reports:
#   - startup time to the first answered /health (median of 10 starts);
#   - idle RSS, and peak RSS after the load below;
#   - requests per second for /health and for /deployment/jobs with
#     10,000 queued RQ jobs (wrk, 2 threads, 32 connections, 10 s);
#   - plugins: first compile of all eight, clean_logs on 10 MB and 500 MB
#     logs (time and peak RSS), and the overhead of one action run with a
#     warm cache (store, instantiate, call, history row);
# and writes them to target/bench.json.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x .venv/rq-2/bin/python ]; then
  python3 -m venv .venv/rq-2
  .venv/rq-2/bin/pip install --quiet --disable-pip-version-check rq==2.12.0
fi
cargo build --release --locked
scripts/build-plugins.sh >/dev/null
exec python3 scripts/bench.py "$@"
