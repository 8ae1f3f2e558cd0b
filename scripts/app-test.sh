#!/usr/bin/env bash
# Runs the app's checks and tests: fmt, clippy, the API suite on SQLite (+ disk,
# in-process cache), the API fuzzing (scripts/app-fuzz.py: schemathesis, bounded), the
# API suite again on PostgreSQL + Redis + S3 (moto), then the browser test. The API
# harness starts the servers it needs on free loopback ports, sharing them through
# $MODU_TEST_STATE_DIR; this script gives it a fresh one and stops the servers at the end.
#
#   scripts/app-test.sh            everything
#   scripts/app-test.sh --no-browser
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
app="$here/../app"
browser=1
[ "${1:-}" = "--no-browser" ] && browser=0

bash "$here/app-test-deps.sh"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
[ -n "$pg_bin" ] && export PATH="$PATH:$pg_bin"

MODU_TEST_STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/modu-app-services.XXXXXX")"
export MODU_TEST_STATE_DIR

stop_services() {
    local dir="$MODU_TEST_STATE_DIR"
    if [ -f "$dir/postgres.port" ]; then
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- pg_ctl stop -D "$dir/pgdata" -m fast >/dev/null 2>&1 || true
        else
            pg_ctl stop -D "$dir/pgdata" -m fast >/dev/null 2>&1 || true
        fi
    fi
    local pids=()
    for name in redis moto; do
        if [ -f "$dir/$name.pid" ]; then
            pids+=("$(cat "$dir/$name.pid")")
            kill "${pids[-1]}" 2>/dev/null || true
        fi
    done
    # They are not our children: poll until they are gone before removing their files.
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    rm -rf "$dir" || true
}
trap stop_services EXIT

cd "$app"
# scripts/test.sh has already checked the whole workspace; run alone, check the app here.
if [ -z "${MODU_WORKSPACE_CHECKED:-}" ]; then
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
fi

echo "== API tests: SQLite, local disk, in-process cache" >&2
MODU_TEST_BACKEND=sqlite cargo nextest run --no-fail-fast

echo "== API fuzzing: schemathesis from the OpenAPI document, SQLite + disk" >&2
python3 "$here/app-fuzz.py"

echo "== API tests: PostgreSQL, Redis, S3 (moto)" >&2
MODU_TEST_BACKEND=postgres cargo nextest run --no-fail-fast

if [ "$browser" = 1 ]; then
    echo "== Browser test: headless Chromium, SQLite + disk" >&2
    bash "$app/tests/browser/run.sh" sqlite
    echo "== Browser test: headless Chromium, PostgreSQL + Redis + S3 (moto)" >&2
    bash "$app/tests/browser/run.sh" postgres
fi
