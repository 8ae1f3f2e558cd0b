#!/usr/bin/env bash
# Builds modu-app, starts it on a free loopback port and runs the headless Chromium
# test against it. Screenshots go to $ARTIFACT_DIR (default: tests/browser/artifacts/BACKEND).
#
#   run.sh            SQLite + images on disk + in-process cache (no other service)
#   run.sh postgres   PostgreSQL + Redis sessions and cache + images in S3 (moto),
#                     each started here on a free loopback port and stopped at the end
set -euo pipefail

backend="${1:-sqlite}"
here="$(cd "$(dirname "$0")" && pwd)"
app="$(cd "$here/../.." && pwd)"
command -v chromium >/dev/null || { echo "chromium is missing: run scripts/app-test-deps.sh" >&2; exit 1; }
# shellcheck source=../../../scripts/services.sh
. "$app/../scripts/services.sh"

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
    npm install --no-audit --no-fund --loglevel=error
fi

cd "$app"
cargo build --quiet --bin modu-app
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
port="$(free_port)"
SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/modu-app-browser.XXXXXX")"
app_pid=
cleanup() {
    [ -n "$app_pid" ] && { kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null || true; }
    stop_services
    rm -rf "$SERVICES_DIR" 2>/dev/null || true
}
trap cleanup EXIT

settings=(BIND="127.0.0.1:$port" RUST_LOG=warn)
case "$backend" in
sqlite)
    settings+=(DATABASE_URL="sqlite://$SERVICES_DIR/modu.db" MEDIA_DIR="$SERVICES_DIR/media")
    ;;
postgres)
    start_postgres
    start_redis
    start_moto
    make_bucket modu-browser
    settings+=(DATABASE_URL="$PG_URL" REDIS_URL="$REDIS_URL" S3_BUCKET=modu-browser S3_FORCE_PATH_STYLE=true)
    ;;
*) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac

env "${settings[@]}" "$target_dir/debug/modu-app" >"$SERVICES_DIR/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

cd "$here"
echo "browser test on $backend: $(curl -fsS "http://127.0.0.1:$port/readyz")" >&2
BASE_URL="http://127.0.0.1:$port" ARTIFACT_DIR="${ARTIFACT_DIR:-$here/artifacts/$backend}" \
    node --test resume.test.mjs || { echo "--- app log" >&2; tail -50 "$SERVICES_DIR/app.log" >&2; exit 1; }
