#!/usr/bin/env python3
"""How many runs `modu up` and `modu down` need to converge under injected AWS faults, and
how many calls they make compared with a fault-free run; per fault profile, over seeds.

    cargo build && python3 scripts/bench-faults.py [--seeds 10] [--spec stacks/modu.yaml]
        [--profile NAME ...] [--modu target/debug/modu]

Each seed runs on a fresh emulator (scripts/emulator.py) behind the fault proxy
(scripts/faults.py): `up` again until it exits 0 (at most --max-runs), then a fault-free
`up` that must make no mutating call, then `down --yes --delete-data` under faults the same
way, then a fault-free `down` that must find nothing. Prints one row per profile, and the
first error line of every failed run (what a fix should look at).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench import count_lines, read_calls, start_emulator, start_ready  # noqa: E402

PROFILES = {
    "none": {},
    "throttle 10%": {"throttle": 0.10},
    "5xx 5%": {"error": 0.05},
    "lost replies 8%": {"lost_reply": 0.08},
    "resets 5%": {"reset": 0.05},
    "issue mix": {"throttle": 0.10, "error": 0.05, "lost_reply": 0.08},
    "double mix": {"throttle": 0.20, "error": 0.10, "lost_reply": 0.16},
}


def start_proxy(upstream: str) -> tuple[subprocess.Popen, str]:
    return start_ready([str(ROOT / "scripts/faults.py"), "--upstream", upstream], "fault proxy")


def configure(proxy: str, settings: dict) -> None:
    request = urllib.request.Request(
        f"{proxy}/_faults/config", data=json.dumps(settings).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).read()


def first_error(output: str) -> str:
    for line in output.splitlines():
        if ": failed: " in line or line.strip().startswith("×"):
            return line.strip()[:200]
    return output.strip().splitlines()[-1][:200] if output.strip() else "(no output)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--spec", default="stacks/modu.yaml")
    parser.add_argument("--profile", action="append", choices=sorted(PROFILES), help="default: all")
    parser.add_argument("--max-runs", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="show what an unconverged run left")
    parser.add_argument("--run-timeout", type=int, default=300, help="seconds one run may take")
    parser.add_argument("--modu", default=str(ROOT / "target/debug/modu"), help="the binary to run")
    args = parser.parse_args()
    spec = str(Path(args.spec).resolve())

    rows = []
    failures: collections.Counter[str] = collections.Counter()
    for profile in args.profile or list(PROFILES):
        runs = {"up": [], "down": []}
        calls = {"up": [], "down": []}
        not_converged = 0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            with tempfile.TemporaryDirectory() as work:
                log = Path(work) / "requests.jsonl"
                emulator, url = start_emulator(log)
                proxy, proxy_url = start_proxy(url)
                env = dict(
                    os.environ,
                    AWS_ACCESS_KEY_ID="bench",
                    AWS_SECRET_ACCESS_KEY="bench",
                    AWS_REGION="us-east-1",
                    MODU_ALLOW_EXAMPLE_DOMAINS="true",
                    NO_COLOR="1",
                )
                env.pop("AWS_PROFILE", None)

                def modu(endpoint: str, *command: str) -> subprocess.CompletedProcess:
                    try:
                        return subprocess.run(
                            [args.modu, *command, "-f", spec], cwd=ROOT, env={**env, "AWS_ENDPOINT_URL": endpoint},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=args.run_timeout,
                        )
                    except subprocess.TimeoutExpired as hung:
                        tail = (hung.stderr or b"")
                        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
                        print(f"seed {seed}: `modu {' '.join(command)}` still running after {args.run_timeout} s; "
                              f"its last lines:\n{tail[-3000:]}", file=sys.stderr)
                        return subprocess.CompletedProcess(command, 124, "", f"× hung after {args.run_timeout} s")

                try:
                    for command in (["up", "--yes"], ["down", "--yes", "--delete-data"]):
                        name = command[0]
                        configure(proxy_url, {"seed": seed * 2 + (name == "down"), **PROFILES[profile]})
                        before, _ = count_lines(log)
                        for attempt in range(1, args.max_runs + 1):
                            done = modu(proxy_url, *command)
                            if done.returncode == 0:
                                runs[name].append(attempt)
                                break
                            failures[f"{name}: {first_error(done.stdout + done.stderr)}"] += 1
                        else:
                            runs[name].append(None)
                            not_converged += 1
                        calls[name].append(count_lines(log)[0] - before)
                        # Converged: the same command without faults changes nothing.
                        seen = count_lines(log)[0]
                        again = modu(url, *command)
                        changed = sorted({
                            f"{c['service']}:{c['operation']}" for c in read_calls(log)[seen:] if c["mutating"]
                        })
                        if again.returncode != 0 or changed:
                            failures[f"{name}: not converged, a fault-free run called {', '.join(changed)}"] += 1
                            not_converged += 1
                            if args.verbose:
                                planned = [l for l in again.stderr.splitlines() if l.strip().startswith(("+", "~", "-", "-/+"))]
                                warned = [l for l in done.stderr.splitlines() if " WARN " in l or " INFO " in l]
                                warned += done.stdout.splitlines()
                                print(f"seed {seed} {profile}: {name} left\n  " + "\n  ".join(planned)
                                      + "\n after the faulty run's warnings:\n  " + "\n  ".join(warned), file=sys.stderr)
                finally:
                    for process in (proxy, emulator):
                        process.kill()
                        process.wait()

        def runs_text(values: list) -> str:
            counted = collections.Counter("x" if v is None else v for v in values)
            return " ".join(f"{k}:{counted[k]}" for k in sorted(counted, key=str))

        rows.append((
            profile,
            runs_text(runs["up"]), statistics.median(calls["up"]),
            runs_text(runs["down"]), statistics.median(calls["down"]),
            not_converged,
        ))

    print(f"{args.seeds} seeds from {args.first_seed}, {args.spec}, {args.modu}; runs needed as runs:count (x: not within {args.max_runs})")
    print(f"{'profile':<16} {'up runs':<16} {'up calls':>9} {'down runs':<16} {'down calls':>10} {'unconverged':>11}")
    for profile, up_runs, up_calls, down_runs, down_calls, bad in rows:
        print(f"{profile:<16} {up_runs:<16} {up_calls:>9g} {down_runs:<16} {down_calls:>10g} {bad:>11}")
    if failures:
        print("\nfailed runs, by first error:")
        for line, count in failures.most_common():
            print(f"  {count:>3}  {line}")


if __name__ == "__main__":
    main()
