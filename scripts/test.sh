#!/usr/bin/env bash
# Runs every test pitstop has. On a fresh Debian machine it first installs
# what the tests need, and only what is missing (so a second run is quick):
#   - redis-server (Debian package), for a real Redis on a free port;
#   - two Python virtualenvs under .venv/ with RQ 2.12.0 and RQ 3.0.0, for
#     real `rq worker` processes;
#   - git, shellcheck and curl (for scripts/deploy.sh and its tests), and
#     the wasm32-wasip2 Rust target for the plugins;
#   - file and qemu-user-static, to check and run the Raspberry Pi build;
#   - Debian's chromium and, from npm, playwright-core (tests/widget), to
#     drive the widget in a real browser;
# then builds the plugins and the Pi release (cross/build.sh, which
# installs zig and cargo-zigbuild), and runs `cargo test` (unit tests and
# the integration tests in tests/it).
# This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_packages=()
command -v redis-server >/dev/null || apt_packages+=(redis-server)
command -v git >/dev/null || apt_packages+=(git)
command -v shellcheck >/dev/null || apt_packages+=(shellcheck)
command -v curl >/dev/null || apt_packages+=(curl)
command -v file >/dev/null || apt_packages+=(file)
command -v qemu-aarch64-static >/dev/null || apt_packages+=(qemu-user-static)
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v node >/dev/null || apt_packages+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_packages+=(python3-venv)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  say "installing ${apt_packages[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# One virtualenv per RQ major version the tests run against.
for spec in rq-2=2.12.0 rq-3=3.0.0; do
  name=${spec%%=*} version=${spec#*=}
  venv=.venv/$name
  if ! "$venv/bin/python" -c "import rq, sys; sys.exit(rq.__version__ != '$version')" 2>/dev/null; then
    say "creating $venv with rq==$version"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "rq==$version"
  fi
done

if [ ! -d tests/widget/node_modules/playwright-core ]; then
  say "installing playwright-core for the widget tests"
  (cd tests/widget && npm ci --no-audit --no-fund --silent)
fi

say "building the plugins"
scripts/build-plugins.sh >/dev/null

say "building the Raspberry Pi release (cross/build.sh)"
cross/build.sh

say "cargo test"
cargo test --locked "$@"
