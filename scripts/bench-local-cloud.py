#!/usr/bin/env python3
"""Figures of the local cloud, printed as a table:

    python3 scripts/bench-local-cloud.py [--modu target/debug/modu] [--scale 0.05] [--seconds 10]

- start: from launching scripts/local-cloud.sh to its ready file;
- boot: from RunInstances to the end of the instance's user data (its console says so);
- requests/s through proxy -> CloudFront -> load balancer -> instance, for stacks/modu.yaml's
  demo app, 8 keep-alive clients over HTTPS for --seconds;
- `modu up` and `modu down` of stacks/modu.yaml under --latency realistic --time-scale S,
  against the stack's critical path: the longest chain of localcloud/latency.py's durations
  through what waits for what (up: the cache's 480 s against load balancer 180 s then
  distribution 240 s; down: the cache's 300 s deletion against the distribution's 240 s
  disable), times S.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from localcloud.latency import SECONDS, critical_path  # noqa: E402

UP = {"dns_record": ["distribution"], "distribution": ["load_balancer"], "load_balancer": [],
      "instances": ["load_balancer"], "cache": []}
UP_SECONDS = {"distribution": SECONDS["distribution"], "load_balancer": SECONDS["load_balancer"],
              "instances": SECONDS["instance_boot"], "cache": SECONDS["cache_create"]}
DOWN = {"distribution": [], "cache": []}
DOWN_SECONDS = {"distribution": SECONDS["distribution"], "cache": SECONDS["cache_delete"]}


class Cloud:
    def __init__(self, *flags: str):
        self.folder = Path(tempfile.mkdtemp(prefix="bench-local-cloud-"))
        ready = self.folder / "ready.json"
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(ROOT / "scripts/local-cloud.sh"), "--ready-file", str(ready), "--exit-on-stdin-eof", *flags],
            stdin=subprocess.PIPE, stderr=open(self.folder / "stderr", "w"),
        )
        while not ready.exists():
            if self.process.poll() is not None:
                sys.exit((self.folder / "stderr").read_text())
            time.sleep(0.01)
        self.start_seconds = time.monotonic() - started
        self.ready = json.loads(ready.read_text())
        self.env = {**os.environ, "AWS_ENDPOINT_URL": self.ready["endpoint_url"], "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                    # The reference stack's example.com, which only a local cloud serves.
                    "MODU_ALLOW_EXAMPLE_DOMAINS": "true"}

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.ready["endpoint_url"], region_name="us-east-1",
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=120)


def modu(cloud: Cloud, binary: str, *args: str) -> float:
    started = time.monotonic()
    subprocess.run([binary, *args], env=cloud.env, check=True, capture_output=True)
    return time.monotonic() - started


def boot_seconds(cloud: Cloud) -> float:
    ec2 = cloud.client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    started = time.monotonic()
    [instance] = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet,
                                   UserData=(ROOT / "stacks/boot.sh").read_text())["Instances"]
    while "user data finished" not in ec2.get_console_output(InstanceId=instance["InstanceId"]).get("Output", ""):
        time.sleep(0.05)
    seconds = time.monotonic() - started
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return seconds


def requests_per_second(cloud: Cloud, domain: str, seconds: float, clients: int = 8) -> float:
    proxy_host, proxy_port = cloud.ready["http_proxy"].removeprefix("http://").split(":")
    context = ssl.create_default_context(cafile=cloud.ready["ca_bundle"])
    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        conn = http.client.HTTPSConnection(proxy_host, int(proxy_port), context=context)
        conn.set_tunnel(domain, 443)
        while time.monotonic() < deadline:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modu", default=str(ROOT / "target/debug/modu"))
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    spec = str(ROOT / "stacks/modu.yaml")

    cloud = Cloud()
    try:
        boot = boot_seconds(cloud)
        modu(cloud, args.modu, "up", "-f", spec, "--yes")
        while subprocess.run([args.modu, "status", "-f", spec], env=cloud.env, capture_output=True).returncode:
            time.sleep(1)
        domain = cloud.client("cloudfront").list_distributions()["DistributionList"]["Items"][0]["DomainName"]
        rate = requests_per_second(cloud, domain, args.seconds)
        modu(cloud, args.modu, "down", "-f", spec, "--yes", "--delete-data")
    finally:
        cloud.stop()
    print(f"| local cloud start (launch to ready file) | {cloud.start_seconds:.2f} s |")
    print(f"| instance boot (RunInstances to the end of boot.sh) | {boot:.2f} s |")
    print(f"| HTTPS through proxy -> CloudFront -> ALB -> instance, 8 clients | {rate:,.0f} req/s |")

    cloud = Cloud("--latency", "realistic", "--time-scale", str(args.scale))
    try:
        up = modu(cloud, args.modu, "up", "-f", spec, "--yes")
        down = modu(cloud, args.modu, "down", "-f", spec, "--yes", "--delete-data")
    finally:
        cloud.stop()
    up_path = critical_path(UP, UP_SECONDS) * args.scale
    down_path = critical_path(DOWN, DOWN_SECONDS) * args.scale
    print(f"| `up` under realistic latency x{args.scale:g} | {up:.1f} s, critical path {up_path:.1f} s "
          f"(x{up / up_path:.2f}) |")
    print(f"| `down` under realistic latency x{args.scale:g} | {down:.1f} s, critical path {down_path:.1f} s "
          f"(x{down / down_path:.2f}) |")


if __name__ == "__main__":
    main()
