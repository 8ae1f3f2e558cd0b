#!/usr/bin/env bash
# The local demo: starts the local cloud (scripts/local-cloud.sh), runs `modu up` on
# stacks/modu.yaml in it (building the resume service for the instances first, as
# `app.artifact: build` says), shows `modu status`, then asks the service at the
# distribution's address through the cloud's proxy whether it is ready, and prints how to
# open it yourself. Then `modu down`, unless --keep: that leaves everything running
# until Ctrl-C. Nothing reaches real AWS; nothing is left running afterwards.
#
#   scripts/demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
case "${1:-}" in
    --keep) keep=true ;;
    "") ;;
    *) echo "usage: scripts/demo.sh [--keep]" >&2; exit 2 ;;
esac

scripts/local-cloud-deps.sh
scripts/release-tools.sh
cargo build --quiet --bin modu
modu=target/debug/modu

work="$(mktemp -d)"
# Fed by nothing: the local cloud stops (cleanly) when this script ends and the pipe closes.
mkfifo "$work/keepalive"
scripts/local-cloud.sh --ready-file "$work/ready.json" --log "$work/requests.jsonl" --exit-on-stdin-eof \
    <"$work/keepalive" 2>"$work/local-cloud.log" &
cloud=$!
exec 3>"$work/keepalive"
trap 'exec 3>&-; wait "$cloud" 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 600); do
    [ -f "$work/ready.json" ] && break
    kill -0 "$cloud" 2>/dev/null || { cat "$work/local-cloud.log" >&2; exit 1; }
    sleep 0.1
done
[ -f "$work/ready.json" ] || { echo "the local cloud did not start" >&2; cat "$work/local-cloud.log" >&2; exit 1; }
ready() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/ready.json" "$1"; }
endpoint="$(ready endpoint_url)"
proxy="$(ready http_proxy)"
ca="$(ready ca_bundle)"
spki="$(ready ca_spki_sha256)"
echo "local cloud: AWS APIs at $endpoint, its stack's names through the proxy $proxy"

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
# stacks/modu.yaml names example.com, which only a local cloud can serve.
export MODU_ALLOW_EXAMPLE_DOMAINS=true
run() { echo; echo "\$ modu $*"; "$modu" "$@"; }

run plan -f stacks/modu.yaml
run up -f stacks/modu.yaml --yes
echo
echo "waiting for the load balancer's health checks to pass (interval 15 s, healthy after 2)..."
for _ in $(seq 120); do
    code=0
    "$modu" status -f stacks/modu.yaml >/dev/null 2>&1 || code=$?
    [ "$code" -eq 0 ] && break
    sleep 1
done
run status -f stacks/modu.yaml

url="$("$modu" status -f stacks/modu.yaml --output json 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["outputs"]["cdn_url"])')"
echo
echo "GET ${url}readyz, through the proxy (CloudFront -> load balancer -> an instance), three times:"
for _ in $(seq 3); do
    echo "  $(curl -sS --max-time 10 -x "$proxy" --cacert "$ca" "${url}readyz")"
done

echo
echo "Try it yourself (the certificates come from the local cloud's CA, $ca):"
echo "  curl -x $proxy --cacert $ca $url"
echo "  chromium --proxy-server=$proxy --ignore-certificate-errors-spki-list=$spki $url"
echo "  modu load --url $url --proxy $proxy --ca-bundle $ca    (the resume service's traffic test)"

if $keep; then
    echo
    echo "the stack keeps running: Ctrl-C stops the local cloud and everything in it"
    trap 'echo; echo "stopping"' INT
    wait "$cloud" || true
else
    run down -f stacks/modu.yaml --yes --delete-data --no-final-snapshot
    echo
    echo "$(wc -l <"$work/requests.jsonl") AWS API calls in all"
fi
