"""EC2's data plane: every running instance of the emulator is a booted sandbox.

The reconciler compares moto's instances with the sandboxes it runs: an instance that is
running and has none boots (namespace with its private IP, sandbox, user data); a sandbox
whose instance is no longer running is shut down the way EC2 does it after an Auto Scaling
group's scale-in: first the load balancer drains it (no new requests; in-flight ones end or
the deregistration delay passes), then its units get SIGTERM (and SIGKILL after their
TimeoutStopSec), then its namespace goes.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from .netns import ENDPOINT_ADDRESS
from .sandbox import Sandbox

POWEROFF_TIMEOUT = 120.0


class Compute:
    def __init__(self, state: Path, network, board, endpoint_port: int, ca_bundle: Path, log):
        self.state = state
        self.network = network
        self.board = board
        self.endpoint_port = endpoint_port
        self.ca_bundle = ca_bundle
        self.log = log
        self.lock = threading.Lock()
        self.running: dict[str, Sandbox] = {}
        self.stopping: set[str] = set()
        self.booted_at: dict[str, float] = {}
        # Instances power off when this pipe's write end closes: with this process.
        self.lifeline, self._lifeline_writer = os.pipe()

    def console_of(self, instance_id: str) -> bytes | None:
        folder = self.state / "instances" / instance_id
        path = folder / "root" / "run" / "localcloud" / "console.log"
        try:
            return path.read_bytes()
        except OSError:
            return b"" if folder.exists() else None

    def reconcile(self, snapshot) -> None:
        with self.lock:
            for instance in snapshot.instances.values():
                if instance.state == "running" and instance.id not in self.running and instance.private_ip and instance.subnet_cidr:
                    self.running[instance.id] = None  # booting
                    threading.Thread(target=self.boot, args=(instance,), name=f"boot-{instance.id}", daemon=True).start()
            for instance_id, sandbox in list(self.running.items()):
                instance = snapshot.instances.get(instance_id)
                if sandbox is None or instance_id in self.stopping:
                    continue
                if instance is None or instance.state != "running":
                    self.stopping.add(instance_id)
                    threading.Thread(target=self.shutdown, args=(instance_id,), daemon=True).start()

    def environment(self, instance) -> dict[str, str]:
        """What every process of the instance finds in its environment (systemd's
        DefaultEnvironment): the AWS endpoint of this cloud, and the CA of its HTTPS names."""
        return {
            "AWS_ENDPOINT_URL": f"http://{ENDPOINT_ADDRESS}:{self.endpoint_port}",
            "AWS_DEFAULT_REGION": instance.region,
            "AWS_REGION": instance.region,
        }

    def boot(self, instance) -> None:
        started = time.monotonic()
        folder = self.state / "instances" / instance.id
        hostname = f"ip-{instance.private_ip.replace('.', '-')}"
        sandbox = Sandbox(folder, instance.id, hostname, self.environment(instance))
        try:
            namespace = self.network.attach(instance.id, instance.private_ip, instance.subnet_cidr)
            sandbox.prepare(instance.user_data, self.ca_bundle)
            sandbox.start(namespace, self.lifeline)
        except Exception as err:
            self.log(f"instance {instance.id} did not boot: {err}")
            self.network.detach(instance.id)
            with self.lock:
                self.running.pop(instance.id, None)
            return
        with self.lock:
            self.running[instance.id] = sandbox
            self.booted_at[instance.id] = time.monotonic() - started
        self.log(f"instance {instance.id} booted at {instance.private_ip} in {time.monotonic() - started:.2f}s")

    def draining(self, instance_id: str) -> bool:
        with self.board.lock:
            return any(key[1] == instance_id for key in self.board.targets)

    def shutdown(self, instance_id: str, drain: bool = True) -> None:
        sandbox = self.running.get(instance_id)
        if drain:
            while self.draining(instance_id):
                time.sleep(0.2)
        if sandbox is not None:
            sandbox.poweroff(POWEROFF_TIMEOUT)
        self.network.detach(instance_id)
        with self.lock:
            self.running.pop(instance_id, None)
            self.stopping.discard(instance_id)
        self.log(f"instance {instance_id} shut down")

    def close(self) -> None:
        """Stops every instance at once (the local cloud is stopping)."""
        for _ in range(100):  # instances still booting finish first
            with self.lock:
                if all(s is not None for s in self.running.values()):
                    break
            time.sleep(0.1)
        with self.lock:
            ids = [i for i in self.running if i not in self.stopping]
            self.stopping.update(ids)
        threads = [threading.Thread(target=self.shutdown, args=(i, False)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self.lock:
            leftovers = list(self.running)
        for instance_id in leftovers:
            sandbox = self.running.get(instance_id)
            if sandbox is not None:
                sandbox.kill()
            self.network.detach(instance_id)
        shutil.rmtree(self.state / "instances", ignore_errors=True)
