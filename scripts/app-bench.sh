#!/usr/bin/env bash
# Measures modu-app with wrk (`modu load` runs the same workloads): the "click" workload (POST
# of the resume form with two small JPEGs) and the "read" workload (list + detail),
# each at concurrency 8, 32 and 128, on one backend, plus the app's peak RSS.
#
#   scripts/app-bench.sh sqlite      SQLite (WAL, synchronous=FULL) + disk + in-process cache
#   scripts/app-bench.sh postgres    PostgreSQL (fsync on) + Redis + S3 on a moto server
#   scripts/app-bench.sh postgres-disk   the same with images on local disk (without moto's limits)
#
# DURATION (seconds per run, default 10) and CONCURRENCY ("8 32 128") can be set.
# LOADGEN=modu measures with the project's own `modu load` (release build) instead of wrk.
# Everything listens on free loopback ports and is stopped at the end.
set -euo pipefail

backend="${1:-sqlite}"
duration="${DURATION:-10}"
levels="${CONCURRENCY:-8 32 128}"
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/../app"
bash "$here/app-test-deps.sh"
. "$here/services.sh"

SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/modu-app-bench.XXXXXX")"
work="$SERVICES_DIR"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_services
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work" || true; }
}
trap cleanup EXIT

# One user saves every form of the run (hundreds of MB of images): no storage quota here.
env_vars=(RUST_LOG=warn USER_QUOTA_MB=1000000)
case "$backend" in
sqlite)
    env_vars+=(DATABASE_URL="sqlite://$work/modu.db" MEDIA_DIR="$work/media")
    ;;
postgres | postgres-disk)
    start_postgres
    start_redis
    start_moto
    make_bucket modu-bench
    env_vars+=(DATABASE_URL="$PG_URL" REDIS_URL="$REDIS_URL" DB_POOL_SIZE=32)
    if [ "$backend" = postgres ]; then
        env_vars+=(S3_BUCKET=modu-bench S3_FORCE_PATH_STYLE=true)
    else
        env_vars+=(MEDIA_DIR="$work/media")
    fi
    ;;
*) echo "usage: $0 sqlite|postgres|postgres-disk" >&2; exit 2 ;;
esac

(cd "$app" && cargo build --release --quiet --bin modu-app)
target_dir="$(cd "$app" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
port="$(free_port)"
base="http://127.0.0.1:$port"
env "${env_vars[@]}" BIND="127.0.0.1:$port" "$target_dir/release/modu-app" >"$work/app.log" 2>&1 &
app_pid=$!
pids+=("$app_pid")
wait_port "$port"

# A user, a two-JPEG form body (2 KiB each, like `modu load --images 2 --image-bytes 2048`), a seed resume.
token="$(curl -fsS "$base/api/auth/signup" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"bench-password","password_confirm":"bench-password"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
python3 "$here/app-bench-body.py" "$work/body" "$work/boundary"
export BENCH_TOKEN="$token" BENCH_BODY="$work/body" BENCH_BOUNDARY="$(cat "$work/boundary")"
resume_id="$(curl -fsS "$base/api/resumes" -H "authorization: Bearer $token" \
    -H "content-type: multipart/form-data; boundary=$BENCH_BOUNDARY" --data-binary "@$work/body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
export BENCH_RESUME="$resume_id"

echo "backend=$backend duration=${duration}s cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) $(wrk --version 2>&1 | head -1)"
# Saves are fsync-bound: say how fast this disk flushes right now.
python3 - "$work/fsync-probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
lat = []
for _ in range(100):
    t = time.perf_counter(); os.write(fd, b"x" * 4096); os.fsync(fd); lat.append((time.perf_counter() - t) * 1000)
os.close(fd); os.remove(sys.argv[1]); lat.sort()
print(f"disk: fsync of 4 KiB p50 {lat[50]:.2f} ms, p90 {lat[90]:.2f} ms")
PY
if [ "${LOADGEN:-wrk}" = modu ]; then
    (cd "$here/.." && cargo build --release --quiet --bin modu)
    for workload in click read; do
        for c in $levels; do
            echo "== modu load $workload c=$c"
            "$target_dir/release/modu" load --url "$base" -w "$workload" -c "$c" -d "$duration" -o json |
                python3 "$here/app-bench-summary.py" || true
        done
    done
    echo "== app peak RSS: $(grep VmHWM "/proc/$app_pid/status" | awk '{print $2, $3}')"
    exit 0
fi
for workload in click read; do
    for c in $levels; do
        threads=2; [ "$c" -lt 2 ] && threads=1
        echo "== $workload c=$c"
        wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 10s --latency \
            -s "$here/app-bench-$workload.lua" "$base" 2>&1 |
            grep -E "Latency  |50%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors"
    done
done
echo "== app peak RSS: $(grep VmHWM "/proc/$app_pid/status" | awk '{print $2, $3}')"
echo "== resumes stored: $(curl -fsS "$base/api/resumes?limit=1" >/dev/null && echo ok)"
