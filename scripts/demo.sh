#!/usr/bin/env bash
# Local demo: starts the AWS emulator (moto, scripts/emulator.py) on a free
# loopback port, then runs `modu up`, `modu status` and `modu down` on
# stacks/modu.yaml against it. Nothing reaches real AWS.
set -euo pipefail
cd "$(dirname "$0")/.."

# The emulator's pinned moto (scripts/requirements-emulator.txt), whenever it differs.
if ! python3 scripts/emulator_pin.py; then
    echo "installing the emulator's pinned packages with pip"
    python3 -m pip install --quiet -r scripts/requirements-emulator.txt
fi
cargo build --quiet --bin modu

work="$(mktemp -d)"
# Fed by nothing: the emulator stops when this script ends and the pipe closes.
mkfifo "$work/keepalive"
python3 scripts/emulator.py --port 0 --log "$work/requests.jsonl" --exit-on-stdin-eof \
    <"$work/keepalive" >"$work/ready" 2>"$work/emulator.log" &
emulator=$!
exec 3>"$work/keepalive"
trap 'exec 3>&-; kill "$emulator" 2>/dev/null || true; wait "$emulator" 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 600); do
    grep -q '^ready ' "$work/ready" && break
    kill -0 "$emulator" 2>/dev/null || { cat "$work/emulator.log" >&2; exit 1; }
    sleep 0.1
done
url="$(sed -n 's/^ready //p' "$work/ready")"
[ -n "$url" ] || { echo "the emulator did not start" >&2; cat "$work/emulator.log" >&2; exit 1; }
echo "emulator: $url"

export AWS_ENDPOINT_URL="$url" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
modu=target/debug/modu
run() { echo; echo "\$ modu $*"; "$modu" "$@"; }

run plan -f stacks/modu.yaml
run up -f stacks/modu.yaml
run plan -f stacks/modu.yaml --detailed-exitcode
run status -f stacks/modu.yaml
run down -f stacks/modu.yaml --yes --delete-data
echo
echo "$(wc -l <"$work/requests.jsonl") AWS API calls in all"
