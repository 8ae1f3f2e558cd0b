#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when it is
# missing, then format check, clippy and every test (nextest, one process per
# test; the integration tests start their own moto servers on free loopback ports),
# and a bounded fuzz run of the spec parser.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- test dependencies -------------------------------------------------------
# moto: the AWS emulator of the integration tests (scripts/emulator.py), at the one
# version pinned in scripts/requirements-emulator.txt; installed whenever it differs.
if ! python3 scripts/emulator_pin.py; then
    echo "installing the emulator's pinned packages with pip"
    python3 -m pip install --quiet -r scripts/requirements-emulator.txt
fi
# cargo-nextest runs the tests, each in its own process.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
# pytest runs the emulator's own tests (scripts/tests/).
if ! python3 -c 'import pytest' 2>/dev/null; then
    echo "installing pytest with pip"
    python3 -m pip install --quiet pytest
fi
# The local cloud's tools (network namespaces, sandboxes, the instances' AWS CLI, the data
# stores), and what the app's and the stack's tests need: redis-server, PostgreSQL, Chromium
# (tests/local_cloud.rs opens the stack in it too), fonts, wrk.
scripts/local-cloud-deps.sh
scripts/app-test-deps.sh
# zig and cargo-zigbuild, which build modu-app for Amazon Linux 2023 (tests/release.rs).
scripts/release-tools.sh

# --- checks --------------------------------------------------------------------
cargo fmt --all --check
# Every member builds its dependencies with one feature set (no SDK rebuild between them).
python3 scripts/workspace-hack.py --check
cargo clippy --workspace --all-targets -- -D warnings
# The emulator corrections must behave as AWS documents before the product is tested on them.
python3 -m pytest -q scripts/tests
# `modu load`'s end-to-end tests run the real resume service; building it here keeps the
# test processes from each waiting on that build (they still check it is up to date).
cargo build --quiet -p modu-app
# The property test of tests/faults.rs (random spec edits, `up` and `down` under faults):
# one fixed sequence here, so a landing never depends on luck; other seeds replay with
# `MODU_PROPERTY_SEED=N cargo nextest run -p modu --test faults -E 'test(random_spec)'`.
export MODU_PROPERTY_SEED="${MODU_PROPERTY_SEED:-1}" MODU_PROPERTY_STEPS="${MODU_PROPERTY_STEPS:-6}"
echo "property test: seed $MODU_PROPERTY_SEED, $MODU_PROPERTY_STEPS steps"
# Every test runs even after one fails, so one run shows every failure.
cargo nextest run --no-fail-fast -p modu -p modu-spec -p modu-load -p modu-wire
# The spec parser, fuzzed for two minutes from its corpus in fuzz/corpus/ (README,
# "Fuzzing the spec parser").
scripts/fuzz.sh 120
# The resume service (app/): its API suite on SQLite + disk and again on PostgreSQL + Redis +
# S3 (moto), servers started by the harness on free loopback ports, then headless Chromium.
MODU_WORKSPACE_CHECKED=1 scripts/app-test.sh
