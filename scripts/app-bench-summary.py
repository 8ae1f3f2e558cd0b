#!/usr/bin/env python3
"""One line from a `modu load -o json` report on stdin: throughput, latency, answers, errors."""

import json
import sys

report = json.load(sys.stdin)
requests = report["requests"]
latency = report.get("latency_ms") or {}
print(
    f"{requests['per_s']:.0f} req/s ({requests['posts_per_s']:.0f} POST/s, "
    f"{report['clicks']['per_s']:.1f} clicks/s) "
    f"p50 {latency.get('p50')} p90 {latency.get('p90')} p99 {latency.get('p99')} max {latency.get('max')} ms; "
    f"status {report['status']}; errors {report['errors']}"
)
