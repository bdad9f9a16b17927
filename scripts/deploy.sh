#!/usr/bin/env bash
# deploy.sh: update and restart the bot's Docker Compose stack, from the
# host that runs it (the seed's scripts/deploy.sh, kept whole).
#
# Steps, each reported, the first failure ending the script non-zero:
#   1. pull     git pull --ff-only; local changes are stashed first (never
#               lost: `git stash list` shows them)
#   2. rebuild  <compose> build [SERVICE]
#   3. restart  <compose> up -d [SERVICE] after a rebuild (so new images run),
#               <compose> restart [SERVICE] without one
#   4. health   every service (or SERVICE) running, and HEALTH_URL (if set)
#               answering 2xx, within HEALTH_TIMEOUT seconds
#   5. logs     the last LOG_LINES lines of the services' logs
#
# Environment:
#   COMPOSE         the compose command (default: "docker compose")
#   APP_DIR         the bot's repository (default: the current folder)
#   HEALTH_URL      an extra URL that must answer 2xx (e.g. the API's /health)
#   HEALTH_TIMEOUT  seconds to wait for health (default: 60)
#   LOG_LINES       lines of logs shown at the end (default: 30)
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: scripts/deploy.sh [--no-pull] [--no-rebuild] [--service NAME] [--help]

Updates and restarts the bot's Docker Compose stack: git pull (local
changes stashed first), rebuild, restart, health check, recent logs.

Options:
  --no-pull         do not git pull
  --no-rebuild      do not rebuild the images (restart only)
  --service NAME    act on this service only (e.g. bot-worker)
  --help            show this help

Environment: COMPOSE (default "docker compose"), APP_DIR (default: .),
HEALTH_URL, HEALTH_TIMEOUT (default 60), LOG_LINES (default 30).

Examples:
  scripts/deploy.sh                                        # pull, rebuild, restart
  scripts/deploy.sh --no-pull --no-rebuild --service bot-worker   # restart the worker
  scripts/deploy.sh --no-rebuild                           # update the code only
TXT
}

pull=1 rebuild=1 service=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-pull) pull=0 ;;
    --no-rebuild) rebuild=0 ;;
    --service)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "deploy.sh: --service needs a NAME" >&2
        exit 2
      fi
      service=$2
      shift
      ;;
    --service=*) service=${1#--service=} ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

read -r -a compose <<<"${COMPOSE:-docker compose}"
health_timeout=${HEALTH_TIMEOUT:-60}
log_lines=${LOG_LINES:-30}
targets=()
[ -n "$service" ] && targets=("$service")

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ndeploy.sh: FAILED: %s\n' "$*" >&2; exit 1; }

cd "${APP_DIR:-.}" || fail "APP_DIR '${APP_DIR:-.}' is not a folder"

if [ "$pull" -eq 1 ]; then
  step "pull"
  git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "$(pwd) is not a git repository"
  old=$(git rev-parse HEAD)
  if [ -n "$(git status --porcelain)" ]; then
    message="deploy.sh: local changes saved before pull $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    git stash push --include-untracked -m "$message" >/dev/null || fail "git stash"
    echo "local changes stashed: '$message' (git stash list)"
  fi
  git pull --ff-only || fail "git pull --ff-only (the branches have diverged? merge by hand)"
  new=$(git rev-parse HEAD)
  if [ "$old" = "$new" ]; then
    echo "already up to date at ${new:0:12}"
  else
    echo "updated ${old:0:12} -> ${new:0:12}"
  fi
fi

if [ "$rebuild" -eq 1 ]; then
  step "rebuild ${service:-all services}"
  "${compose[@]}" build "${targets[@]}" || fail "${compose[*]} build"
  step "restart ${service:-all services}"
  "${compose[@]}" up -d "${targets[@]}" || fail "${compose[*]} up -d"
else
  step "restart ${service:-all services}"
  "${compose[@]}" restart "${targets[@]}" || fail "${compose[*]} restart"
fi

step "health check"
deadline=$((SECONDS + health_timeout))
while :; do
  expected=$("${compose[@]}" ps --services "${targets[@]}" | sort)
  running=$("${compose[@]}" ps --services --status running "${targets[@]}" | sort)
  down=$(comm -23 <(printf '%s\n' "$expected") <(printf '%s\n' "$running") | grep -v '^$' || true)
  url_ok=1
  if [ -n "${HEALTH_URL:-}" ] && ! curl -fsS -o /dev/null --max-time 5 "$HEALTH_URL"; then
    url_ok=0
  fi
  if [ -z "$down" ] && [ "$url_ok" -eq 1 ]; then
    echo "healthy: $(echo "$running" | tr '\n' ' ')"
    break
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    [ -n "$down" ] && echo "not running: $(echo "$down" | tr '\n' ' ')"
    [ "$url_ok" -eq 0 ] && echo "no 2xx from $HEALTH_URL"
    "${compose[@]}" logs --tail "$log_lines" "${targets[@]}" || true
    fail "the stack is not healthy after ${health_timeout}s"
  fi
  sleep 2
done

step "recent logs"
"${compose[@]}" logs --tail "$log_lines" "${targets[@]}" || fail "${compose[*]} logs"
printf '\ndeploy.sh: done\n'
