#!/usr/bin/env bash
# Builds every plugin under plugins/ for wasm32-wasip2 (adding the Rust
# target if it is missing) and copies the components to target/plugins/
# (under CARGO_TARGET_DIR when set),
# where the bundled actions.toml looks for them (`server.plugin_dir`).
# Extra arguments go to cargo (e.g. -p clean_logs).
set -euo pipefail
cd "$(dirname "$0")/.."

# Honour CARGO_TARGET_DIR, as cargo does.
target_dir=$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
(cd plugins && cargo build --release --locked --target-dir "$target_dir/plugins-build" "$@")
# Only this workspace's plugins: nothing stale (or from the tests) may
# end up in a release bundle.
rm -rf "$target_dir/plugins"
mkdir -p "$target_dir/plugins"
for wasm in "$target_dir"/plugins-build/wasm32-wasip2/release/*.wasm; do
  cp "$wasm" "$target_dir/plugins/"
done
for wasm in "$target_dir"/plugins/*.wasm; do
  printf '  %-40s %7d bytes\n' "$wasm" "$(stat -c %s "$wasm")"
done
