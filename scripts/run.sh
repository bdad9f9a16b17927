#!/usr/bin/env bash
# Builds pitstop (release) and its plugins, then serves the bundled
# actions.toml on 127.0.0.1:8000. It works with no Redis running: Redis
# then shows as stopped and the job endpoints answer 503 until it is up.
# The actions' local folders (var/logs, var/data, var/backups, var/bot)
# are created empty; point actions.toml at the real ones.
#
# The API key comes from API_KEY. When it is not set, this script makes a
# random one for the session and prints it, so the API can be tried at once.
# Extra arguments go to `pitstop serve` (e.g. --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
scripts/build-plugins.sh
mkdir -p var/logs var/data var/backups var/bot
if [ -z "${API_KEY:-}" ]; then
  API_KEY=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  export API_KEY
  echo "API_KEY was not set; this session's key is: $API_KEY"
  echo "  try: curl -H \"X-API-Key: $API_KEY\" http://ADDRESS/deployment/services/status"
  echo "  with the address pitstop prints below (127.0.0.1:8000 unless --listen says otherwise)"
fi
exec target/release/pitstop serve --config actions.toml "$@"
