"""The Application Load Balancer's data plane: each HTTP listener forwards requests to the
targets of its target group(s) that pass their health checks.

- Target choice per the group's `load_balancing.algorithm.type`: round robin, or least
  outstanding requests. With only unhealthy targets the group fails open (routes to all of
  them), as ELB documents; with none healthy or unhealthy (none registered, all initial or
  draining) the answer is 503.
- Weighted forward actions pick a group by weight; fixed-response actions answer as given.
- The request reaches the target with X-Forwarded-For/-Proto/-Port and X-Amzn-Trace-Id;
  a refused or reset connection answers 502, a target slower than the idle timeout 504,
  with the same bodies ELB sends.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time

from . import http1
from .netns import open_from

IDLE_TIMEOUT = 60.0


def elb_error(status: int) -> http1.Response:
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[status]
    body = f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    response = http1.text_response(status, body, "text/html")
    response.headers.add("Server", "awselb/2.0")
    return response


def trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"


class LoadBalancers:
    def __init__(self, board, snapshot, router_socket, log):
        self.board = board
        self.snapshot = snapshot
        self.router_socket = router_socket
        self.log = log
        self.counters: dict = {}

    def routable(self, group) -> list:
        """(target id, port, state) the group may send a request to now."""
        healthy, unhealthy = [], []
        for target_id, port in group.targets:
            state = self.board.get(group.arn, target_id, port)
            if state is None or state.draining_since is not None:
                continue
            if state.state == "healthy":
                healthy.append((target_id, port, state))
            elif state.state == "unhealthy":
                unhealthy.append((target_id, port, state))
        return healthy or unhealthy

    def choose(self, group):
        candidates = self.routable(group)
        if not candidates:
            return None
        if group.algorithm == "least_outstanding_requests":
            return min(candidates, key=lambda c: (c[2].in_flight, random.random()))
        counter = self.counters.setdefault(group.arn, itertools.count())
        return candidates[next(counter) % len(candidates)]

    async def handle(self, balancer, listener, request: http1.Request, viewer_ip: str, path: str) -> http1.Response:
        if listener.fixed is not None:
            fixed = listener.fixed
            return http1.text_response(
                int(fixed.get("StatusCode", 200)), fixed.get("MessageBody", ""), fixed.get("ContentType", "text/plain")
            )
        if not listener.forward:
            return elb_error(503)
        snapshot = self.snapshot()
        arns, weights = zip(*listener.forward)
        group = snapshot.target_groups.get(random.choices(arns, weights=weights)[0])
        if group is None:
            return elb_error(503)
        chosen = self.choose(group)
        if chosen is None:
            return elb_error(503)
        target_id, port, state = chosen
        headers = request.headers.copy()
        forwarded = headers.get("X-Forwarded-For")
        headers.set("X-Forwarded-For", f"{forwarded}, {viewer_ip}" if forwarded else viewer_ip)
        headers.set("X-Forwarded-Proto", listener.protocol.lower())
        headers.set("X-Forwarded-Port", str(listener.port))
        headers.set("X-Amzn-Trace-Id", trace_id())
        upstream = http1.Request(request.method, path, "HTTP/1.1", headers, request.body)
        with self.board.lock:
            state.in_flight += 1
        try:
            return await asyncio.wait_for(self.forward(state.instance_ip, port, upstream), IDLE_TIMEOUT)
        except asyncio.TimeoutError:
            return elb_error(504)
        except (OSError, http1.ProtocolError, asyncio.IncompleteReadError) as err:
            self.log(f"{balancer.name}: target {target_id}:{port}: {err or type(err).__name__}")
            return elb_error(502)
        finally:
            with self.board.lock:
                state.in_flight -= 1

    async def forward(self, address: str, port: int, request: http1.Request) -> http1.Response:
        reader, writer = await open_from(self.router_socket, address, port, limit=2**20)
        try:
            writer.write(http1.encode_request(request))
            await writer.drain()
            return await http1.read_response(reader, request.method)
        finally:
            writer.close()
