"""What the emulator's tests share besides fixtures: starting scripts/emulator.py on a
free loopback port, boto3 clients for it, and small helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

SCRIPTS = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"


class Emulator:
    """One emulator process; stops when its stdin closes."""

    def __init__(self, log: Path, *flags: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "emulator.py"), "--port", "0", "--log", str(log), "--exit-on-stdin-eof", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=None if env is None else {**os.environ, **env},
        )
        line = self.process.stdout.readline().strip()
        if not line.startswith("ready http://127.0.0.1:"):
            self.stop()
            pytest.fail(f"the emulator did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]
