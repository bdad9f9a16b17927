#!/usr/bin/env bash
# cross/bundle.sh: packs a release bundle: the pitstop binary, the built
# plugins, the Pi's actions.toml, the systemd unit and a VERSION file, as
# pitstop-VERSION.tar.gz with its pitstop-VERSION.tar.gz.sha256.
#
# Usage: cross/bundle.sh --binary FILE [--plugins DIR] [--config FILE]
#                        [--version TEXT] [--out DIR]
# Defaults: plugins from target/plugins, cross/pi/actions.toml, the
# version from `--binary --version` (or the crate's when the binary cannot
# run here) plus the git commit, out to target/dist. Prints the bundle path.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="" plugins=target/plugins config=cross/pi/actions.toml version="" out=target/dist
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift ;;
    --plugins) plugins=$2; shift ;;
    --config) config=$2; shift ;;
    --version) version=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bundle.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$binary" ] || [ ! -f "$binary" ]; then
  echo "bundle.sh: --binary FILE is required" >&2
  exit 2
fi
compgen -G "$plugins/*.wasm" >/dev/null || { echo "bundle.sh: no plugins in $plugins (run scripts/build-plugins.sh)" >&2; exit 2; }

if [ -z "$version" ]; then
  base=$("$binary" --version 2>/dev/null | awk '{print $2}') || true
  [ -n "$base" ] || base=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  commit=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
  version="$base-$commit"
fi
case "$version" in *[!A-Za-z0-9._+-]*) echo "bundle.sh: bad version '$version'" >&2; exit 2 ;; esac

name="pitstop-$version"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/plugins" "$out"
install -m 0755 "$binary" "$stage/$name/pitstop"
install -m 0644 "$plugins"/*.wasm "$stage/$name/plugins/"
install -m 0644 "$config" "$stage/$name/actions.toml"
install -m 0644 cross/pi/pitstop.service "$stage/$name/pitstop.service"
install -m 0644 README.md "$stage/$name/README.md"
echo "$version" >"$stage/$name/VERSION"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "$out/$name.tar.gz"
