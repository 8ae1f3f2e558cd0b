"""What the emulator's tests share besides fixtures: starting scripts/emulator.py on a
free loopback port, boto3 clients for it, and small helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

SCRIPTS = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"


def client_for(url: str, service: str, config=None):
    """A boto3 client of `service` at an emulator's endpoint, with its test credentials
    (and a botocore `Config`, e.g. its retries, if given)."""
    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
        config=config,
    )


class Emulator:
    """One emulator process; stops when its stdin closes."""

    def __init__(self, log: Path, *flags: str, env: dict[str, str] | None = None):
        self.log_path = log
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
        return client_for(self.url, service)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


class FaultProxy:
    """scripts/faults.py in front of `upstream` on a free port; stops when its stdin closes."""

    def __init__(self, upstream: str, log: Path, *flags: str):
        self.log_path = log
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "faults.py"), "--upstream", upstream, "--port", "0", "--log", str(log),
             "--exit-on-stdin-eof", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().strip()
        if not line.startswith("ready http://127.0.0.1:"):
            self.stop()
            pytest.fail(f"the fault proxy did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def client(self, service: str, config=None):
        return client_for(self.url, service, config)

    def control(self, path: str, settings: dict | None = None) -> dict:
        """GET (or, with settings, POST) one of the proxy's `/_faults/` controls."""
        import urllib.request

        data = None if settings is None else json.dumps(settings).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/_faults/{path}", data=data)) as answer:
            return json.loads(answer.read())

    def faults(self) -> list[dict]:
        """The injected faults so far, as logged."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


class LocalCloud:
    """scripts/local-cloud.sh on free loopback ports; stops when its stdin closes."""

    def __init__(self, folder: Path, *flags: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.ready_file = folder / "ready.json"
        self.stderr = folder / "local-cloud.stderr"
        self.process = subprocess.Popen(
            [str(SCRIPTS / "local-cloud.sh"), "--ready-file", str(self.ready_file), "--exit-on-stdin-eof",
             "--log", str(folder / "calls.log"), *flags],
            stdin=subprocess.PIPE,
            stderr=open(self.stderr, "w"),
        )
        deadline = time.monotonic() + 30
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the local cloud did not start:\n{self.stderr.read_text()}")
            time.sleep(0.05)
        self.ready = json.loads(self.ready_file.read_text())
        self.url = self.ready["endpoint_url"]
        self.proxy = self.ready["http_proxy"]
        self.state = Path(self.ready["state_dir"])
        self.pid = self.ready["pid"]

    def client(self, service: str):
        return client_for(self.url, service)

    def instance_root(self, instance_id: str) -> Path:
        return self.state / "instances" / instance_id / "root"

    def log(self) -> str:
        return self.stderr.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def get(proxy: str, url: str, timeout: float = 10) -> tuple[int, dict, bytes]:
    """A GET through the local cloud's proxy: (status, headers, body)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def wait_for(what: str, check, timeout: float = 60, every: float = 0.25):
    """Polls `check()` until it returns something truthy; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def connect_through(proxy: str, host: str, port: int, timeout: float = 10):
    """A socket to `host:port` through the proxy's CONNECT tunnel."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(proxy)
    sock = socket.create_connection((where.hostname, where.port), timeout=timeout)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        sock.close()
        raise ConnectionError(f"CONNECT {host}:{port}: {head.decode(errors='replace')}")
    return sock


class Tunnel:
    """A loopback port whose connections the proxy tunnels to `host:port` (for clients
    that cannot speak to an HTTP proxy themselves, like psql)."""

    def __init__(self, proxy: str, host: str, port: int):
        import socket
        import threading

        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]

        def pump(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        def accept():
            while True:
                try:
                    client, _ = self.server.accept()
                except OSError:
                    return
                upstream = connect_through(proxy, host, port)
                upstream.settimeout(None)
                threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()

    def close(self):
        self.server.close()
