#!/usr/bin/env bash
# Fuzzes the spec parser (fuzz/, cargo fuzz) for a bounded time: SECONDS in all (default
# 120), shared by the targets. Exits non-zero when an input makes the parser panic, or
# report a problem without a place, or take longer than TIMEOUT seconds, after printing
# where the input was saved. Prints each target's figures from libFuzzer's last stats line.
#
#   scripts/fuzz.sh [SECONDS]
#
# FUZZ_SANITIZER=address runs under AddressSanitizer (a few times slower per input, and a
# longer build); the default, none, is enough for a crate without unsafe code: overflow
# checks stay on. Installs, when missing, the nightly toolchain and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_IN_ALL=${1:-120}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
SANITIZER=${FUZZ_SANITIZER:-none}
CARGO_FUZZ_VERSION=0.13.2
# Per input: a spec is parsed in well under a millisecond; ten seconds means a loop.
TIMEOUT=10
RSS_LIMIT_MB=2048
TARGETS=(spec shaped)

# --- tools ---------------------------------------------------------------------------
# libFuzzer's instrumentation needs nightly; libfuzzer-sys compiles libFuzzer with a C++ compiler.
if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the $TOOLCHAIN toolchain" >&2
    rustup toolchain install "$TOOLCHAIN" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
if ! command -v c++ >/dev/null; then
    echo "fuzz: installing g++" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi

# --- build ---------------------------------------------------------------------------
fuzz=(cargo "+$TOOLCHAIN" fuzz)
started=$(date +%s)
"${fuzz[@]}" build --sanitizer "$SANITIZER"
echo "fuzz: built the targets in $(($(date +%s) - started)) s"

# --- run -----------------------------------------------------------------------------
# New inputs go to a scratch corpus under fuzz/target/; fuzz/corpus/<target>/, the
# repository's, is only read (the README's "Fuzzing the spec parser" says how to keep them).
per_target=$((SECONDS_IN_ALL / ${#TARGETS[@]}))
[ "$per_target" -ge 1 ] || per_target=1
failed=()
for target in "${TARGETS[@]}"; do
    scratch="fuzz/target/corpus/$target"
    log="fuzz/target/$target.log"
    mkdir -p "$scratch" "fuzz/corpus/$target"
    echo "fuzz: $target for $per_target s"
    status=0
    "${fuzz[@]}" run --sanitizer "$SANITIZER" "$target" "$scratch" "fuzz/corpus/$target" -- \
        -max_total_time="$per_target" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" \
        >"$log" 2>&1 || status=$?
    # The last stats line: "#<runs> <event> cov: <edges> ft: <features> corp: <inputs>/<size>
    # lim: … exec/s: <rate> rss: …".
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    if [ -n "$stats" ]; then
        echo "$stats" | awk -v target="$target" '{
            for (i = 1; i < NF; i++) {
                if ($i == "cov:") cov = $(i + 1)
                if ($i == "ft:") ft = $(i + 1)
                if ($i == "corp:") corp = $(i + 1)
                if ($i == "exec/s:") rate = $(i + 1)
            }
            split(corp, c, "/")
            printf "fuzz: %s: %s runs, %s execs/s, coverage %s edges and %s features, corpus %s inputs (%s)\n",
                target, substr($1, 2), rate, cov, ft, c[1], c[2]
        }'
    fi
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        # What broke (a panic's place and message, or libFuzzer's verdict) and the input.
        grep -A 1 'panicked at' "$log" | head -n 4 >&2 || true
        grep -E '^SUMMARY|Test unit written to' "$log" >&2 || true
        echo "fuzz: $target failed (log: $log); reproduce with" \
            "\`cargo +$TOOLCHAIN fuzz run --sanitizer $SANITIZER $target fuzz/artifacts/$target/<file>\`" >&2
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}: make each saved input a test in spec/" \
        "(README, \"Fuzzing the spec parser\")" >&2
    exit 1
fi
