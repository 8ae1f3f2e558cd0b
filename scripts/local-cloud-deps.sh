#!/usr/bin/env bash
# Installs what the local cloud (scripts/local-cloud.sh) needs, each only when missing:
# iproute2 (network namespaces), util-linux's nsenter, bubblewrap (the instances' sandboxes),
# what a boot script for Amazon Linux 2023 expects to find (bash, curl, Python 3 at
# /usr/bin/python3, procps, openssl), redis-server and PostgreSQL for the data stores. The AWS CLI and the emulator's Python packages come pinned from
# scripts/requirements-emulator.txt.
set -euo pipefail

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
command -v pgrep >/dev/null || missing+=(procps)
[ -x /usr/bin/python3 ] || missing+=(python3)
# The data stores: ElastiCache's and RDS's data planes.
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    echo "local-cloud-deps: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts="$(dirname "$0")"
if ! python3 "$scripts/emulator_pin.py"; then
    echo "local-cloud-deps: installing the emulator's pinned packages" >&2
    python3 -m pip install -q -r "$scripts/requirements-emulator.txt"
fi
