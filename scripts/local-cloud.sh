#!/usr/bin/env bash
# The local cloud, in the foreground: the AWS APIs of the emulator plus data planes that run
# what AWS would run (instances, load balancers, ...). Ctrl-C or SIGTERM stops it and all it
# started. See scripts/localcloud/main.py for the options and the ready file.
#
#   scripts/local-cloud.sh --ready-file FILE [--latency none|realistic] [--time-scale F]
set -euo pipefail
cd "$(dirname "$0")"
./local-cloud-deps.sh
exec python3 -m localcloud "$@"
