"""The Application Load Balancer's data plane: each HTTP listener forwards requests to the
targets of its target group(s) that pass their health checks.

- Target choice per the group's `load_balancing.algorithm.type`: round robin, or least
  outstanding requests. With only unhealthy targets the group fails open (routes to all of
  them), as ELB documents; with none healthy or unhealthy (none registered, all initial or
  draining) the answer is 503.
- A listener's rules are tried by priority (conditions: http-header, host-header,
  path-pattern, http-request-method; all of a rule's must hold), then its default action.
- Weighted forward actions pick a group by weight; fixed-response actions answer as given;
  redirect actions answer 301/302 with the Location their config builds (`#{host}` etc.).
- The request reaches the target with X-Forwarded-For/-Proto/-Port and X-Amzn-Trace-Id;
  a refused or reset connection answers 502, a target slower than the idle timeout 504,
  with the same bodies ELB sends.
"""

from __future__ import annotations

import asyncio
import fnmatch
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


def _matches(pattern: str, value: str, case_sensitive: bool) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def rule_matches(rule, request: http1.Request, path: str) -> bool:
    """Whether every condition of a listener rule holds for the request. Header names and
    values, and host names, compare without case; paths with case, as ELB documents."""
    bare = path.split("?", 1)[0]
    for field, condition in rule.conditions:
        if field == "http-header":
            config = condition.get("HttpHeaderConfig") or {}
            value = request.headers.get(config.get("HttpHeaderName", ""))
            if value is None or not any(_matches(v, value, False) for v in config.get("Values") or []):
                return False
        elif field == "host-header":
            values = (condition.get("HostHeaderConfig") or {}).get("Values") or condition.get("Values") or []
            host = (request.headers.get("Host") or "").split(":")[0]
            if not any(_matches(v, host, False) for v in values):
                return False
        elif field == "path-pattern":
            values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
            if not any(_matches(v, bare, True) for v in values):
                return False
        elif field == "http-request-method":
            values = (condition.get("HttpRequestMethodConfig") or {}).get("Values") or []
            if request.method not in values:
                return False
        else:
            return False  # a condition the local cloud does not evaluate: the rule does not apply
    return True


def redirect(config: dict, listener, request: http1.Request, path: str) -> http1.Response:
    """A redirect action's answer: its Location with the request's parts where the config
    says `#{protocol}`, `#{host}`, `#{port}`, `#{path}` or `#{query}` (its defaults)."""
    bare, _, query = path.partition("?")
    parts = {
        "#{protocol}": listener.protocol.lower(),
        "#{host}": (request.headers.get("Host") or "").split(":")[0],
        "#{port}": str(listener.port),
        "#{path}": bare.lstrip("/"),
        "#{query}": query,
    }

    def fill(value: str) -> str:
        for key, part in parts.items():
            value = value.replace(key, part)
        return value

    protocol = fill(config.get("Protocol") or "#{protocol}").lower()
    host = fill(config.get("Host") or "#{host}")
    port = fill(config.get("Port") or "#{port}")
    location_path = fill(config.get("Path") or "/#{path}")
    location_query = fill(config.get("Query") if config.get("Query") is not None else "#{query}")
    default_port = {"https": "443", "http": "80"}.get(protocol)
    location = f"{protocol}://{host}" + ("" if port == default_port else f":{port}") + location_path
    if location_query:
        location += "?" + location_query
    status = 302 if config.get("StatusCode") == "HTTP_302" else 301
    response = http1.text_response(status, "", "text/html")
    response.headers.add("Location", location)
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
        action = next((r.action for r in listener.rules if rule_matches(r, request, path)), listener.default)
        if action.fixed is not None:
            fixed = action.fixed
            return http1.text_response(
                int(fixed.get("StatusCode", 200)), fixed.get("MessageBody", ""), fixed.get("ContentType", "text/plain")
            )
        if action.redirect is not None:
            return redirect(action.redirect, listener, request, path)
        if not action.forward:
            return elb_error(503)
        snapshot = self.snapshot()
        arns, weights = zip(*action.forward)
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
