#!/usr/bin/env python3
"""Figures of shipping the resume service on the local cloud, printed as a table:

    python3 scripts/bench-deploy.py [--modu target/debug/modu] [--app target/debug/modu-app]
                                    [--seconds 20]

- `modu up` of stacks/modu.yaml with `app` (the given binary as its artifact: upload,
  role, database, cache, parameters, two instances ready on /readyz), latency none;
- `modu deploy` of a changed build with 2 instances, then with 6 (min = desired = max = 6);
- `modu load` click and read through proxy -> CloudFront -> load balancer -> instances
  for --seconds each, 8 virtual users, on the deployed stack (2 instances).
Everything shares this machine's cores: the local cloud, moto, PostgreSQL, Redis, the
instances and the load generator.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


def load_cloud_class():
    """The local cloud harness of scripts/bench-local-cloud.py (a file name with hyphens)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_local_cloud", ROOT / "scripts/bench-local-cloud.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Cloud


def run(cloud, binary: str, *args: str) -> float:
    started = time.monotonic()
    done = subprocess.run([binary, *args], env=cloud.env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"modu {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - started


def spec_for(folder: Path, artifact: Path, size: int | None = None) -> Path:
    text = (ROOT / "stacks/modu.yaml").read_text()
    text = text.replace("  artifact: build ", f"  artifact: {artifact} ", 1)
    text = text.replace("interval: 15", "interval: 6", 1)
    text = text.replace("  port: 80\n", "  port: 80\n  deregistration_delay: 5\n", 1)
    if size:
        text = text.replace("  min: 2\n", f"  min: {size}\n", 1).replace("  desired: 2\n", f"  desired: {size}\n", 1)
    spec = folder / "modu.yaml"
    spec.write_text(text)
    return spec


def build_variant(source: Path, target: Path, mark: str) -> Path:
    shutil.copy(source, target)
    with open(target, "ab") as out:
        out.write(f"\n{mark}\n".encode())
    target.chmod(0o755)
    return target


def wait_healthy(cloud, count: int) -> None:
    """Until the target group has `count` healthy targets (`up` returns once the instances
    are in service, a little before the load balancer calls them healthy)."""
    elbv2 = cloud.client("elbv2")
    arn = elbv2.describe_target_groups(Names=["modu-tg"])["TargetGroups"][0]["TargetGroupArn"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        states = [d["TargetHealth"]["State"] for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]]
        if states.count("healthy") >= count:
            return
        time.sleep(0.5)
    sys.exit(f"the targets did not become healthy: {states}")


def load(cloud, binary: str, url: str, workload: str, seconds: int) -> dict:
    done = subprocess.run(
        [binary, "load", "--url", url, "-w", workload, "-c", "8", "-d", str(seconds), "--output", "json",
         "--proxy", cloud.ready["http_proxy"], "--ca-bundle", cloud.ready["ca_bundle"]],
        capture_output=True, text=True,
    )
    report = json.loads(done.stdout or "{}")
    if "clicks" not in report:
        sys.exit(f"modu load failed: {done.stdout}\n{done.stderr}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modu", default=str(ROOT / "target/debug/modu"))
    parser.add_argument("--app", default=str(ROOT / "target/debug/modu-app"))
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    cloud = load_cloud_class()()
    rows = []
    try:
        first = build_variant(Path(args.app), folder / "modu-app-1", "build 1")
        spec = spec_for(folder, first)
        rows.append(("up (app, database, cache, CDN, 2 instances)", f"{run(cloud, args.modu, 'up', '-f', str(spec), '--yes'):.1f} s"))
        wait_healthy(cloud, 2)
        distribution = cloud.client("cloudfront").list_distributions()["DistributionList"]["Items"][0]["DomainName"]
        url = f"https://{distribution}"
        for workload in ("click", "read"):
            report = load(cloud, args.modu, url, workload, args.seconds)
            latency = report.get("latency_ms") or {}
            rate = report["clicks"]["per_s"] if workload == "click" else report["requests"]["per_s"]
            unit = "clicks/s" if workload == "click" else "req/s"
            rows.append((f"load {workload}, c=8, {args.seconds} s, via proxy/CDN/ALB",
                         f"{rate:.1f} {unit}, p50 {latency.get('p50', 0):.0f} / p99 {latency.get('p99', 0):.0f} ms, "
                         f"{report['errors']['total']} errors"))
        second = build_variant(Path(args.app), folder / "modu-app-2", "build 2")
        spec = spec_for(folder, second)
        rows.append(("deploy, 2 instances", f"{run(cloud, args.modu, 'deploy', '-f', str(spec)):.1f} s"))
        spec = spec_for(folder, second, size=6)
        rows.append(("up to 6 instances", f"{run(cloud, args.modu, 'up', '-f', str(spec), '--yes'):.1f} s"))
        third = build_variant(Path(args.app), folder / "modu-app-3", "build 3")
        spec = spec_for(folder, third, size=6)
        rows.append(("deploy, 6 instances", f"{run(cloud, args.modu, 'deploy', '-f', str(spec)):.1f} s"))
        run(cloud, args.modu, "down", "-f", str(spec), "--yes", "--delete-data", "--no-final-snapshot")
    finally:
        cloud.stop()
        shutil.rmtree(folder, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
