#!/usr/bin/env python3
"""Wall time and AWS API-call count of `modu up` (cold), `up` (no-op),
`status` and `down`, against the local emulator; median of --runs runs, each
on a fresh emulator.

    cargo build --release && python3 scripts/bench.py [--runs 5] [--spec stacks/modu.yaml]

Calls are counted from the emulator's request log (scripts/emulator.py --log).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = [
    ("plan (empty)", ["plan"]),
    ("up (cold)", ["up"]),
    ("plan (no-op)", ["plan"]),
    ("up (no-op)", ["up"]),
    ("status", ["status", "--output", "json"]),
    ("down", ["down", "--yes", "--delete-data"]),
]


def start_ready(command: list[str], what: str) -> tuple[subprocess.Popen, str]:
    """Starts a helper that prints `ready URL` once it listens (the emulator, the fault
    proxy); returns it and the URL. It stops when its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, *command, "--port", "0", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("ready "):
        process.kill()
        sys.exit(f"the {what} did not start: {line!r}")
    return process, line.split(" ", 1)[1].strip()


def start_emulator(log: Path) -> tuple[subprocess.Popen, str]:
    return start_ready([str(ROOT / "scripts/emulator.py"), "--log", str(log)], "emulator")


def read_calls(log: Path) -> list[dict]:
    """The emulator's request log, one dict per call."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def count_lines(path: Path) -> tuple[int, int]:
    calls = read_calls(path)
    return len(calls), sum(1 for c in calls if c["mutating"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spec", default="stacks/modu.yaml")
    parser.add_argument("--modu", default=str(ROOT / "target/release/modu"), help="the binary to measure")
    args = parser.parse_args()

    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name, _ in STEPS}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as work:
            log = Path(work) / "requests.jsonl"
            emulator, url = start_emulator(log)
            env = dict(
                os.environ,
                AWS_ENDPOINT_URL=url,
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_REGION="us-east-1",
                # The reference stack's example.com, which only an emulator serves.
                MODU_ALLOW_EXAMPLE_DOMAINS="true",
            )
            env.pop("AWS_PROFILE", None)
            try:
                for name, command in STEPS:
                    before_all, before_mutating = count_lines(log)
                    start = time.perf_counter()
                    done = subprocess.run(
                        [args.modu, *command, "-f", args.spec],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        text=True,
                    )
                    elapsed = time.perf_counter() - start
                    if done.returncode != 0:
                        sys.exit(f"`modu {' '.join(command)}` failed:\n{done.stderr}")
                    after_all, after_mutating = count_lines(log)
                    results[name].append((elapsed, after_all - before_all, after_mutating - before_mutating))
            finally:
                emulator.kill()
                emulator.wait()

    print(f"median of {args.runs} runs, {args.spec}, {args.modu}")
    print(f"{'command':<12} {'wall time':>10} {'API calls':>10} {'mutating':>9}")
    for name, _ in STEPS:
        runs = results[name]
        wall = statistics.median(r[0] for r in runs)
        calls = statistics.median(r[1] for r in runs)
        mutating = statistics.median(r[2] for r in runs)
        print(f"{name:<12} {wall:>9.2f}s {calls:>10g} {mutating:>9g}")


if __name__ == "__main__":
    main()
