#!/usr/bin/env python3
"""Fuzzes every route of the resume service with inputs generated from its own OpenAPI
description, then checks that nothing was half-written.

    python3 scripts/app-fuzz.py                    # CI's run: 100 examples per operation, seed 1
    python3 scripts/app-fuzz.py --seed 7 --max-examples 300
    python3 scripts/app-fuzz.py --max-time 900     # fuzz for 15 minutes

Builds modu-app (debug) unless given `--binary`, starts it on a free loopback port with
SQLite and images on disk in a fresh directory, with small limits so a short run reaches
them (4 images per resume, 1 MiB per image, 2 MiB per user), and runs schemathesis
(pinned in scripts/requirements-fuzz.txt) against `GET /api/openapi.json`: every phase
(the document's examples, its coverage cases, random cases, and stateful sequences that
follow the document's links: save, read, edit, delete), as a signed-up user
(scripts/app_fuzz_hooks.py), with the checks in CHECKS. Any 5xx fails the run, as does
an answer the document does not describe (status, content type, headers, body schema).

Then the service is stopped and its store checked (scripts/app_consistency.py): every
resume whole, every image row's file present and of its size, no stored file that is no
resume's, no internal error in the service's log. It prints the seed, the requests made,
the examples and answers per operation, the time, and what is stored.

Bounded: `--max-examples` per operation and phase, one worker, a fixed seed (change it
to explore other inputs: every seed is a different run, rerun it to reproduce one), and
`--time-limit`: a run still going then is stopped and fails. `--max-time` lets
schemathesis fuzz until that budget is spent instead.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))

from app_consistency import Limits, problems  # noqa: E402
from emulator_pin import mismatches, pins  # noqa: E402

REQUIREMENTS = SCRIPTS / "requirements-fuzz.txt"
# Answers must be what the document says. Left out: negative_data_rejection and
# positive_data_acceptance, since a schema cannot say every rule (a password must not
# be a common one, a removed key must be the resume's), and object_level_authorization,
# which needs a second user's session.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
]
# Small enough that a short run meets them: the edits past the image count, the saves
# past the quota.
MAX_IMAGES = 4
MAX_IMAGE_MB = 1
USER_QUOTA_MB = 2


def installed() -> bool:
    """Is every package of requirements-fuzz.txt installed at its pinned version?"""
    differences = mismatches(pins(REQUIREMENTS))
    for d in differences:
        found = f"{d.name} {d.installed} is installed" if d.installed else f"{d.name} is not installed"
        print(f"app-fuzz: {found}; {REQUIREMENTS.name} pins {d.pinned}", file=sys.stderr)
    return not differences


def build() -> Path:
    subprocess.run(["cargo", "build", "--quiet", "-p", "modu-app"], cwd=ROOT, check=True)
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return Path(json.loads(metadata)["target_directory"]) / "debug" / "modu-app"


class Service:
    """modu-app on a free loopback port (it binds port 0 and logs the address)."""

    def __init__(self, binary: Path, state: Path):
        self.log_path = state / "app.log"
        self.db_path = state / "modu.db"
        self.media_dir = state / "media"
        env = {
            **os.environ,
            "BIND": "127.0.0.1:0",
            "DATABASE_URL": f"sqlite://{self.db_path}",
            "MEDIA_DIR": str(self.media_dir),
            "MAX_IMAGES": str(MAX_IMAGES),
            "MAX_IMAGE_MB": str(MAX_IMAGE_MB),
            "USER_QUOTA_MB": str(USER_QUOTA_MB),
            "RUST_LOG": "info,sqlx=warn",
        }
        for name in ("REDIS_URL", "S3_BUCKET", "DATABASE_URL_FILE"):
            env.pop(name, None)
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen([str(binary)], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = self._wait_until_ready()

    def _wait_until_ready(self) -> str:
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"app-fuzz: modu-app exited with {self.process.returncode}:\n{self.tail()}")
            if url is None:
                for line in self.log_path.read_text().splitlines():
                    fields = json.loads(line).get("fields", {}) if line.startswith("{") else {}
                    if fields.get("message") == "listening":
                        url = f"http://{fields['address']}"
            if url is not None:
                try:
                    with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                        if response.status == 200:
                            return url
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"app-fuzz: modu-app was not ready within 60 s:\n{self.tail()}")

    def stop(self) -> int:
        """SIGTERM, as a deploy stops it: in-flight requests finish first."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def tail(self, lines: int = 40) -> str:
        """The last lines of its log, without the audit trail (a fuzzer's refused logins)."""
        logged = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join([line for line in logged if '"target":"audit"' not in line][-lines:])

    def errors(self) -> list[str]:
        """Internal errors and panics the service logged."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"level":"ERROR"' in line or "panicked" in line:
                found.append(line)
        return found


def run_schemathesis(args, url: str, state: Path, report: Path, hook_stats: Path) -> tuple[int, float]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "run", f"{url}/api/openapi.json",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(args.max_examples),
        "--seed", str(args.seed),
        "--workers", "1",
        "--request-timeout", "30",
        # A machine shared with other builds may be slow to generate; that is no finding.
        "--suppress-health-check", "too_slow",
        # Every run starts from its seed alone, not from examples a previous run stored.
        "--generation-database", "none",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]
    if args.max_time:
        command += ["--max-time", str(args.max_time)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "app_fuzz_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")])),
        "MODU_FUZZ_URL": url,
        "MODU_FUZZ_HOOK_STATS": str(hook_stats),
    }
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=state, env=env, start_new_session=True)
    try:
        code = process.wait(timeout=args.time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        print(
            f"app-fuzz: schemathesis was still running after the {args.time_limit} s time limit: "
            "stopped (lower --max-examples, or raise --time-limit)",
            file=sys.stderr,
        )
        code = -1
    return code, time.monotonic() - started


def figures(report: Path) -> dict[str, collections.Counter]:
    """Answers per operation (`METHOD /path`), by status, from schemathesis's event log:
    one per request it sent."""
    per_operation: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    if not report.exists():
        return per_operation
    for line in report.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event["recorder"]
        cases = recorder.get("cases", {})
        for case_id, interaction in recorder.get("interactions", {}).items():
            case = cases[case_id]["value"]
            response = interaction.get("response")
            status = str(response["status_code"]) if response else "no answer"
            per_operation[f"{case['method'].upper()} {case['path']}"][status] += 1
    return per_operation


def print_figures(per_operation, hook_stats: Path, seconds: float, documented: set[str]) -> None:
    print("\napp-fuzz: examples per operation (one request each), by answer")
    width = max((len(op) for op in per_operation), default=10)
    described = {op: answers for op, answers in per_operation.items() if op in documented}
    others = {op: answers for op, answers in per_operation.items() if op not in documented}
    for operation in sorted(described, key=lambda op: op.split()[::-1]):
        answers = described[operation]
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(answers.items()))
        print(f"  {operation:<{width}}  {sum(answers.values()):>5}  {statuses}")
    if others:
        methods = sum(sum(answers.values()) for answers in others.values())
        print(f"  {'methods a path does not take':<{width}}  {methods:>5}  (unsupported_method: 405 expected)")
    hooks = json.loads(hook_stats.read_text()) if hook_stats.exists() else {}
    total = sum(sum(answers.values()) for answers in per_operation.values())
    print(
        f"app-fuzz: {total} requests from schemathesis ({len(described)} operations, "
        f"{total / max(len(described), 1):.0f} per operation on average) and "
        f"{sum(hooks.values())} from its hooks (sign-ups, keys to remove), in {seconds:.1f} s"
    )


def documented_operations(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}/api/openapi.json", timeout=10) as response:
        doc = json.load(response)
    return {f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=1, help="the generation's seed (printed; rerun it to reproduce)")
    parser.add_argument("--max-time", type=int, help="fuzz until this many seconds are spent")
    parser.add_argument("--time-limit", type=int, help="stop and fail after this many seconds (default 240, or --max-time + 120)")
    parser.add_argument("--binary", type=Path, help="a built modu-app (default: build the debug one)")
    parser.add_argument("--keep", action="store_true", help="keep the service's directory (database, images, log, report)")
    parser.add_argument("--installed", action="store_true", help="only check that the pinned schemathesis is installed")
    args = parser.parse_args()
    if args.installed:
        return 0 if installed() else 1
    if not installed():
        print(f"app-fuzz: install it with: python3 -m pip install -r {REQUIREMENTS.relative_to(ROOT)}", file=sys.stderr)
        return 1
    if args.time_limit is None:
        args.time_limit = args.max_time + 120 if args.max_time else 240

    print(f"app-fuzz: seed {args.seed}, {args.max_examples} examples per operation and phase"
          + (f", {args.max_time} s of fuzzing" if args.max_time else "")
          + f", time limit {args.time_limit} s")
    binary = args.binary or build()
    state = Path(tempfile.mkdtemp(prefix="modu-app-fuzz."))
    report, hook_stats = state / "schemathesis.ndjson", state / "hook-requests.json"
    service = Service(binary, state)
    try:
        documented = documented_operations(service.url)
        code, seconds = run_schemathesis(args, service.url, state, report, hook_stats)
    finally:
        stopped = service.stop()

    print_figures(figures(report), hook_stats, seconds, documented)
    found = problems(service.db_path, service.media_dir, Limits(MAX_IMAGES, USER_QUOTA_MB << 20))
    found += [f"the service logged: {line}" for line in service.errors()]
    if stopped != 0:
        found.append(f"the service exited with {stopped} on SIGTERM")
    stored = stored_figures(service)
    print("app-fuzz: stored at the end: " + ", ".join(f"{n} {what}" for what, n in stored.items()))
    # The run proves something only if the fuzzer got past sign-in and saved images.
    if stored["image files"] == 0:
        found.append("no image was stored: the fuzzer never saved a whole form (see the hooks)")

    failed = code != 0 or bool(found)
    for problem in found:
        print(f"app-fuzz: inconsistent: {problem}", file=sys.stderr)
    if failed:
        print(f"--- the service's log (last lines)\n{service.tail()}", file=sys.stderr)
    print(f"app-fuzz: {'FAILED' if failed else 'passed'}: seed {args.seed} "
          f"(rerun: python3 scripts/app-fuzz.py --seed {args.seed} --max-examples {args.max_examples}"
          + (f" --max-time {args.max_time}" if args.max_time else "") + ")")
    if args.keep or failed:
        print(f"app-fuzz: the service's database, images, log and schemathesis's events are in {state}")
    else:
        subprocess.run(["rm", "-rf", str(state)], check=False)
    return 1 if failed else 0


def stored_figures(service: Service) -> dict[str, int]:
    db = sqlite3.connect(service.db_path)
    try:
        tables = {"users": "users", "resumes": "resumes", "image rows": "resume_images"}
        counts = {what: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for what, table in tables.items()}
    finally:
        db.close()
    media = service.media_dir
    counts["image files"] = sum(1 for p in media.rglob("*") if p.is_file()) if media.is_dir() else 0
    return counts


if __name__ == "__main__":
    sys.exit(main())
