#!/usr/bin/env bash
# scripts/install-pi.sh: installs or upgrades pitstop on a Raspberry Pi from
# a release bundle (cross/build.sh makes one), over ssh, and rolls back by
# itself when the new version fails its health check.
#
# On the Pi (as root, through sudo):
#   /opt/pitstop/releases/VERSION/   each installed release
#   /opt/pitstop/current             link to the running release
#   /etc/pitstop/actions.toml        configuration (installed once, never overwritten)
#   /etc/pitstop/pitstop.env         API_KEY=… (made once, random, mode 0600)
#   /etc/systemd/system/pitstop.service, user `pitstop`, state in /var/lib/pitstop
# shellcheck disable=SC2016 # snippets in single quotes expand $R, $1… on the target
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: scripts/install-pi.sh [options] HOST

Installs or upgrades pitstop on HOST (an ssh destination, e.g. pi@raspberrypi.local)
from a release bundle, restarts it, checks /health, and goes back to the
previous release by itself if the check fails.

Options:
  --bundle FILE         the bundle (default: the newest target/dist/pitstop-*.tar.gz)
  --health-url URL      checked on the Pi after the restart (default http://127.0.0.1:8000/health)
  --health-timeout S    seconds to wait for it (default 20)
  --keep N              releases kept (default 3)
  --dry-run             print every step, change nothing
  --root DIR            install into the local folder DIR instead of a host (tests:
                        no ssh, no sudo, no user created; SYSTEMCTL names the
                        program standing in for systemctl)
  --help                show this help
TXT
}

dry=0 root="" bundle="" host="" health_url=http://127.0.0.1:8000/health health_timeout=20 keep=3
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift ;;
    --health-url) health_url=$2; shift ;;
    --health-timeout) health_timeout=$2; shift ;;
    --keep) keep=$2; shift ;;
    --dry-run) dry=1 ;;
    --root) root=$(cd "$2" && pwd); shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "install-pi.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) host=$1 ;;
  esac
  shift
done
if [ -z "$host" ] && [ -z "$root" ]; then
  echo "install-pi.sh: name the HOST to install on (see --help)" >&2
  exit 2
fi
if [ -z "$bundle" ]; then
  bundle=$(find target/dist -maxdepth 1 -name 'pitstop-*.tar.gz' -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)
  [ -n "$bundle" ] || { echo "install-pi.sh: no bundle in target/dist: run cross/build.sh" >&2; exit 2; }
fi
[ -f "$bundle" ] || { echo "install-pi.sh: no bundle at $bundle" >&2; exit 2; }
bundle=$(cd "$(dirname "$bundle")" && pwd)/$(basename "$bundle")
name=$(basename "$bundle" .tar.gz)
version=${name#pitstop-}
systemctl_cmd=${SYSTEMCTL:-systemctl}
where=${root:-$host}

n=0
step() { n=$((n + 1)); printf '\n==> %d. %s\n' "$n" "$*"; }

# Runs a snippet on the target as root: over ssh and sudo, or locally with
# every path under --root. The snippet sees $R (the root prefix, empty on a
# real host), $SYSTEMCTL and its own arguments $1, $2, ….
on_target() {
  local script=$1
  shift
  if [ "$dry" -eq 1 ]; then
    printf '    on %s: %s\n' "$where" "$(echo "$script" | tr -s ' \n' ' ')"
    [ $# -gt 0 ] && printf '      with: %s\n' "$*"
    return 0
  fi
  if [ -n "$root" ]; then
    R=$root SYSTEMCTL=$systemctl_cmd bash -euo pipefail -c "$script" install-pi "$@"
  else
    # shellcheck disable=SC2029 # expanded here on purpose, quoted with %q
    ssh "$host" "sudo R= SYSTEMCTL=systemctl bash -euo pipefail -c $(printf '%q' "$script") install-pi $(printf '%q ' "$@")"
  fi
}

healthy() {
  local deadline=$((SECONDS + health_timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -n "$root" ]; then
      curl -fsS --max-time 2 -o /dev/null "$health_url" 2>/dev/null && return 0
    else
      ssh "$host" curl -fsS --max-time 2 -o /dev/null "$health_url" 2>/dev/null && return 0
    fi
    sleep 1
  done
  return 1
}

step "verify $name against its checksum"
if [ "$dry" -eq 1 ]; then
  echo "    sha256sum -c $bundle.sha256"
else
  (cd "$(dirname "$bundle")" && sha256sum --quiet -c "$name.tar.gz.sha256") || { echo "install-pi.sh: checksum mismatch: the bundle is damaged" >&2; exit 1; }
fi

step "ship the bundle to $where"
if [ -n "$root" ]; then
  shipped=$bundle
  echo "    (local root: used in place)"
else
  shipped=/tmp/$name.tar.gz
  if [ "$dry" -eq 1 ]; then echo "    scp $bundle $host:$shipped"; else scp -q "$bundle" "$host:$shipped"; fi
fi

step "unpack into /opt/pitstop/releases/$version"
on_target '
  releases="$R/opt/pitstop/releases"
  if [ "$(readlink "$R/opt/pitstop/current" 2>/dev/null)" = "releases/$1" ]; then
    echo "    $1 is already the current release: unpacking over it is refused"; exit 3
  fi
  mkdir -p "$releases"
  rm -rf "$releases/$1.partial"
  mkdir "$releases/$1.partial"
  tar -xzf "$2" -C "$releases/$1.partial" --strip-components=1
  rm -rf "${releases:?}/$1"
  mv "$releases/$1.partial" "$releases/$1"
' "$version" "$shipped" || {
  status=$?
  [ "$status" -eq 3 ] && { echo "install-pi.sh: nothing to do"; exit 0; }
  exit "$status"
}

step "the pitstop user"
on_target '
  if [ -n "$R" ]; then echo "    (local root: no user created)"; exit 0; fi
  id pitstop >/dev/null 2>&1 || useradd --system --home-dir /var/lib/pitstop --shell /usr/sbin/nologin pitstop
  if getent group docker >/dev/null; then usermod -aG docker pitstop; fi
'

step "configuration in /etc/pitstop (kept if present)"
on_target '
  mkdir -p "$R/etc/pitstop"
  if [ -e "$R/etc/pitstop/actions.toml" ]; then
    echo "    keeping the existing actions.toml"
  else
    install -m 0644 "$R/opt/pitstop/releases/$1/actions.toml" "$R/etc/pitstop/actions.toml"
  fi
  if [ ! -e "$R/etc/pitstop/pitstop.env" ]; then
    umask 077
    printf "API_KEY=%s\n" "$(head -c 24 /dev/urandom | base64 | tr "+/" "-_")" >"$R/etc/pitstop/pitstop.env"
    echo "    made a random API key in /etc/pitstop/pitstop.env"
  fi
' "$version"

step "systemd unit"
on_target '
  mkdir -p "$R/etc/systemd/system"
  install -m 0644 "$R/opt/pitstop/releases/$1/pitstop.service" "$R/etc/systemd/system/pitstop.service"
  $SYSTEMCTL daemon-reload
  $SYSTEMCTL enable pitstop
' "$version"

step "switch /opt/pitstop/current to $version"
previous=""
if [ "$dry" -eq 0 ]; then
  previous=$(on_target 'readlink "$R/opt/pitstop/current" 2>/dev/null | sed "s|^releases/||" || true')
fi
switch_to() {
  on_target '
    cd "$R/opt/pitstop"
    ln -sfn "releases/$1" current.new
    mv -T current.new current
  ' "$1"
}
switch_to "$version"
echo "    previous release: ${previous:-none}"

step "restart and check $health_url"
on_target '$SYSTEMCTL restart pitstop'
if [ "$dry" -eq 0 ] && ! healthy; then
  if [ -z "$previous" ]; then
    echo "install-pi.sh: FAILED: $version does not answer $health_url; see: journalctl -u pitstop -n 50" >&2
    exit 1
  fi
  echo "    $version does not answer: rolling back to $previous"
  switch_to "$previous"
  on_target '$SYSTEMCTL restart pitstop'
  if healthy; then
    echo "install-pi.sh: FAILED: $version did not pass its health check; rolled back to $previous, which answers again" >&2
  else
    echo "install-pi.sh: FAILED: $version did not pass its health check, and $previous does not answer either: journalctl -u pitstop -n 50" >&2
  fi
  exit 1
fi
echo "    healthy"

step "keep the newest $keep releases"
on_target '
  cd "$R/opt/pitstop/releases"
  current=$(readlink ../current | sed "s|^releases/||")
  n=0
  ls -1t | while read -r release; do
    n=$((n + 1))
    if [ "$n" -le "$1" ] || [ "$release" = "$current" ] || [ "$release" = "$2" ]; then continue; fi
    rm -rf "./$release"
    echo "    removed $release"
  done
' "$keep" "$previous"

printf '\ninstall-pi.sh: pitstop %s is running on %s\n' "$version" "$where"
