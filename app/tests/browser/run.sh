#!/usr/bin/env bash
# Builds modu-app, starts it on a free loopback port with a throwaway SQLite database
# and media directory, and runs the headless Chromium test against it. Screenshots go
# to $ARTIFACT_DIR (default: tests/browser/artifacts).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
app="$(cd "$here/../.." && pwd)"
command -v chromium >/dev/null || { echo "chromium is missing: run scripts/app-test-deps.sh" >&2; exit 1; }

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
    npm install --no-audit --no-fund --loglevel=error
fi

cd "$app"
cargo build --quiet --bin modu-app
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data="$(mktemp -d "${TMPDIR:-/tmp}/modu-app-browser.XXXXXX")"

BIND="127.0.0.1:$port" DATABASE_URL="sqlite://$data/modu.db" MEDIA_DIR="$data/media" RUST_LOG=warn \
    "$target_dir/debug/modu-app" >"$data/app.log" 2>&1 &
app_pid=$!
cleanup() {
    kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

cd "$here"
BASE_URL="http://127.0.0.1:$port" node --test resume.test.mjs
