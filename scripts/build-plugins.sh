#!/usr/bin/env bash
# Builds every plugin under plugins/ for wasm32-wasip2 (adding the Rust
# target if it is missing) and copies the components to target/plugins/,
# where the bundled actions.toml looks for them (`server.plugin_dir`).
# Extra arguments go to cargo (e.g. -p clean_logs).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
(cd plugins && cargo build --release --locked "$@")
mkdir -p target/plugins
for wasm in target/plugins-build/wasm32-wasip2/release/*.wasm; do
  cp "$wasm" target/plugins/
done
for wasm in target/plugins/*.wasm; do
  printf '  %-40s %7d bytes\n' "$wasm" "$(stat -c %s "$wasm")"
done
