#!/usr/bin/env bash
# Installs what the app's tests need and is not part of the Rust toolchain:
# redis-server, PostgreSQL (initdb/pg_ctl), the moto S3 server, schemathesis for the
# API fuzzing, Chromium for the browser test, and wrk for measuring. Each is installed
# only when missing (moto and schemathesis: when not at their pinned version).
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v wrk >/dev/null || missing+=(wrk)
# Korean glyphs for the job categories in browser screenshots.
[ -d /usr/share/fonts/truetype/nanum ] || missing+=(fonts-nanum)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "app-test-deps: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# moto at the one version the emulator is pinned to, whenever what is installed differs.
scripts="$(dirname "$0")"
if ! python3 "$scripts/emulator_pin.py"; then
    echo "app-test-deps: installing the emulator's pinned packages" >&2
    python3 -m pip install -q -r "$scripts/requirements-emulator.txt"
fi

# schemathesis, the API fuzzer (scripts/app-fuzz.py), at the version pinned in
# scripts/requirements-fuzz.txt, whenever what is installed differs.
if ! python3 "$scripts/app-fuzz.py" --installed; then
    echo "app-test-deps: installing the API fuzzer's pinned packages" >&2
    python3 -m pip install -q -r "$scripts/requirements-fuzz.txt"
fi

if ! command -v cargo-nextest >/dev/null; then
    echo "app-test-deps: installing cargo-nextest" >&2
    cargo install --locked cargo-nextest
fi
