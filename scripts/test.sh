#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when it is
# missing, then format check, clippy and every test (nextest, one process per
# test; the integration tests start their own moto servers on free loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- test dependencies -------------------------------------------------------
# moto: the AWS emulator of the integration tests (scripts/emulator.py).
if ! python3 -c 'import moto, werkzeug' 2>/dev/null; then
    echo "installing moto[server] with pip"
    python3 -m pip install --quiet 'moto[server]'
fi
# cargo-nextest runs the tests, each in its own process.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
# app/: dependencies of the resume service's tests go here.

# --- checks --------------------------------------------------------------------
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo nextest run --workspace
