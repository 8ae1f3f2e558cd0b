"""Target health, checked for real: each registered target of each target group is sent
the group's health check (path, port, interval, timeout, matcher) from the VPC router, and
moves between AWS's states as ELB documents them:

    initial   --healthy_threshold successes-->    healthy
    initial   --unhealthy_threshold failures-->   unhealthy
    healthy   --unhealthy_threshold failures-->   unhealthy
    unhealthy --healthy_threshold successes-->    healthy
    (deregistered)                            --> draining, until its in-flight requests
                                                  end or the deregistration delay passes

The board is what `DescribeTargetHealth` answers (hooks.py) and what the load balancer
routes by (alb.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from . import http1
from .netns import open_from

REASONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.ResponseCodeMismatch": "Health checks failed with these codes: [{code}]",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
}


def matches(matcher: str, status: int) -> bool:
    for part in matcher.replace(" ", "").split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) <= status <= int(high):
                return True
        elif part and int(part) == status:
            return True
    return False


@dataclass
class TargetState:
    state: str = "initial"
    reason: str | None = "Elb.RegistrationInProgress"
    description: str | None = REASONS["Elb.RegistrationInProgress"]
    successes: int = 0
    failures: int = 0
    in_flight: int = 0
    draining_since: float | None = None
    instance_ip: str = ""


@dataclass
class Board:
    """(target group arn, target id, port) -> TargetState; shared with the API threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    targets: dict = field(default_factory=dict)

    def get(self, group_arn: str, target_id: str, port: int) -> TargetState | None:
        with self.lock:
            return self.targets.get((group_arn, target_id, port))

    def describe(self, group_arn: str, target_id: str, port: int) -> tuple[str, str | None, str | None] | None:
        state = self.get(group_arn, target_id, port)
        if state is None:
            return None
        return state.state, state.reason, state.description


class HealthChecker:
    def __init__(self, board: Board, snapshot, router_socket, log):
        self.board = board
        self.snapshot = snapshot  # () -> the latest Snapshot
        self.router_socket = router_socket  # () -> a socket in the VPC router's namespace
        self.log = log
        self.tasks: dict = {}

    def reconcile(self, snapshot) -> None:
        """Starts checks for new targets, drains deregistered ones."""
        wanted = set()
        for group in snapshot.target_groups.values():
            for target_id, port in group.targets:
                instance = snapshot.instances.get(target_id)
                if instance is None or instance.state != "running":
                    continue
                key = (group.arn, target_id, port)
                wanted.add(key)
                with self.board.lock:
                    state = self.board.targets.get(key)
                    if state is None or state.draining_since is not None:
                        self.board.targets[key] = TargetState(instance_ip=instance.private_ip)
                if key not in self.tasks:
                    self.tasks[key] = asyncio.create_task(self.check_forever(key, group.arn))
        now = time.monotonic()
        with self.board.lock:
            for key, state in list(self.board.targets.items()):
                if key in wanted:
                    continue
                group = snapshot.target_groups.get(key[0])
                delay = group.deregistration_delay if group else 0
                if state.draining_since is None:
                    state.draining_since = now
                    state.state, state.reason = "draining", "Target.DeregistrationInProgress"
                    state.description = REASONS[state.reason]
                    task = self.tasks.pop(key, None)
                    if task:
                        task.cancel()
                if state.in_flight == 0 or now - state.draining_since >= delay:
                    del self.board.targets[key]

    async def check_forever(self, key, group_arn: str) -> None:
        while True:
            group = self.snapshot().target_groups.get(group_arn)
            state = self.board.get(*key)
            if group is None or state is None or state.draining_since is not None:
                return
            check = group.health
            if check.enabled:
                ok, reason, code = await self.check_once(state.instance_ip, key[2], check)
                self.record(key, check, ok, reason, code)
            await asyncio.sleep(check.interval)

    async def check_once(self, address: str, traffic_port: int, check) -> tuple[bool, str | None, int | None]:
        port = traffic_port if check.port == "traffic-port" else int(check.port)
        try:
            reader, writer = await open_from(self.router_socket, address, port, check.timeout)
        except asyncio.TimeoutError:
            return False, "Target.Timeout", None
        except OSError:
            return False, "Target.FailedHealthChecks", None
        try:
            writer.write(
                f"GET {check.path} HTTP/1.1\r\nHost: {address}:{port}\r\n"
                "User-Agent: ELB-HealthChecker/2.0\r\nAccept-Encoding: gzip, compressed\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            response = await asyncio.wait_for(http1.read_response(reader, "GET"), check.timeout)
        except asyncio.TimeoutError:
            return False, "Target.Timeout", None
        except (OSError, http1.ProtocolError, asyncio.IncompleteReadError):
            return False, "Target.FailedHealthChecks", None
        finally:
            writer.close()
        if matches(check.matcher, response.status):
            return True, None, response.status
        return False, "Target.ResponseCodeMismatch", response.status

    def record(self, key, check, ok: bool, reason: str | None, code: int | None) -> None:
        with self.board.lock:
            state = self.board.targets.get(key)
            if state is None or state.draining_since is not None:
                return
            before = state.state
            if ok:
                state.successes += 1
                state.failures = 0
                if state.state != "healthy" and state.successes >= check.healthy_threshold:
                    state.state, state.reason, state.description = "healthy", None, None
                elif state.state == "initial":
                    state.reason = "Elb.InitialHealthChecking"
                    state.description = REASONS[state.reason]
            else:
                state.failures += 1
                state.successes = 0
                if state.state != "unhealthy" and state.failures >= check.unhealthy_threshold:
                    state.state = "unhealthy"
                if state.state == "unhealthy":
                    state.reason = reason
                    state.description = REASONS[reason].format(code=code)
                elif state.state == "initial":
                    state.reason = "Elb.InitialHealthChecking"
                    state.description = REASONS[state.reason]
            after = state.state
        if before != after:
            self.log(f"target {key[1]}:{key[2]} of {key[0].rsplit('/', 2)[-2]}: {before} -> {after}"
                     + (f" ({reason})" if reason and after == "unhealthy" else ""))
