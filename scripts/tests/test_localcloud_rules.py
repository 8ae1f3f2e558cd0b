"""The local cloud's rules that need no servers: CloudFront's path patterns, bucket policies
as an origin access control meets them, and ELB's health-check matchers."""

from __future__ import annotations

import json

from localcloud.cdn import matching, policy_allows
from localcloud.cloud import Behaviour
from localcloud.health import matches

ARN = "arn:aws:cloudfront::123456789012:distribution/E1"
CONTEXT = {"aws:sourcearn": ARN, "aws:securetransport": "true"}


def behaviour(pattern: str) -> Behaviour:
    return Behaviour(pattern, "origin", "allow-all", ("GET", "HEAD"), "", "")


def test_the_first_matching_path_pattern_wins_and_the_default_takes_the_rest():
    behaviours = (behaviour("/api/*"), behaviour("media/*.jpg"), behaviour("/a?c"), behaviour("*"))
    assert matching(behaviours, "/api/resumes").pattern == "/api/*"
    assert matching(behaviours, "/media/x/y.jpg").pattern == "media/*.jpg"
    assert matching(behaviours, "/abc").pattern == "/a?c"
    assert matching(behaviours, "/API/resumes").pattern == "*"  # patterns are case sensitive
    assert matching(behaviours, "/media/x.png").pattern == "*"


def grant(**condition) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bucket/*",
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_an_origin_access_control_reads_what_the_bucket_policy_grants_its_distribution():
    policy = grant(StringEquals={"AWS:SourceArn": ARN})
    service = "cloudfront.amazonaws.com"
    assert policy_allows(policy, service, "s3:GetObject", "arn:aws:s3:::bucket/media/a.jpg", CONTEXT)
    other = {**CONTEXT, "aws:sourcearn": "arn:aws:cloudfront::123456789012:distribution/E2"}
    assert not policy_allows(policy, service, "s3:GetObject", "arn:aws:s3:::bucket/media/a.jpg", other)
    assert not policy_allows(policy, None, "s3:GetObject", "arn:aws:s3:::bucket/media/a.jpg", CONTEXT)
    assert not policy_allows(policy, service, "s3:ListBucket", "arn:aws:s3:::bucket", CONTEXT)
    assert not policy_allows(None, service, "s3:GetObject", "arn:aws:s3:::bucket/a", CONTEXT)


def test_an_explicit_deny_wins_over_an_allow():
    document = json.loads(grant())
    document["Statement"].append({
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::bucket/*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    })
    policy = json.dumps(document)
    assert not policy_allows(policy, "cloudfront.amazonaws.com", "s3:GetObject", "arn:aws:s3:::bucket/a", CONTEXT)
    insecure = {**CONTEXT, "aws:securetransport": "false"}
    assert policy_allows(policy, "cloudfront.amazonaws.com", "s3:GetObject", "arn:aws:s3:::bucket/a", insecure)


def test_health_check_matchers_take_codes_lists_and_ranges():
    assert matches("200", 200) and not matches("200", 204)
    assert matches("200,302", 302) and not matches("200,302", 301)
    assert matches("200-299", 204) and not matches("200-299", 301)


def test_least_outstanding_requests_picks_the_least_busy_target_and_round_robin_takes_turns():
    from localcloud.alb import LoadBalancers
    from localcloud.cloud import HealthCheck, TargetGroup
    from localcloud.health import Board, TargetState

    check = HealthCheck("HTTP", "traffic-port", "/", 5, 2, 2, 2, "200", True)

    def group(algorithm: str) -> TargetGroup:
        return TargetGroup("arn:tg", "tg", 8000, "HTTP", check, algorithm, 300, (("i-1", 8000), ("i-2", 8000)))

    board = Board()
    board.targets[("arn:tg", "i-1", 8000)] = TargetState(state="healthy", in_flight=3)
    board.targets[("arn:tg", "i-2", 8000)] = TargetState(state="healthy", in_flight=1)
    balancers = LoadBalancers(board, snapshot=None, router_socket=None, log=print)
    assert balancers.choose(group("least_outstanding_requests"))[0] == "i-2"
    assert [balancers.choose(group("round_robin"))[0] for _ in range(4)] == ["i-1", "i-2", "i-1", "i-2"]
    # Only unhealthy targets: the group fails open to all of them; none ready: nothing.
    for state in board.targets.values():
        state.state = "unhealthy"
    assert {balancers.choose(group("round_robin"))[0] for _ in range(2)} == {"i-1", "i-2"}
    for state in board.targets.values():
        state.state = "initial"
    assert balancers.choose(group("round_robin")) is None


def test_each_origin_request_policy_forwards_what_it_names():
    import asyncio

    from localcloud import http1
    from localcloud.cdn import ALL_VIEWER, ALL_VIEWER_AND_CLOUDFRONT, CORS_S3_ORIGIN, Distributions
    from localcloud.cloud import Distribution, LoadBalancer, Origin

    listener = plain_listener()
    balancer = LoadBalancer("arn:lb", "lb", "lb-1.us-east-1.elb.amazonaws.com", "internet-facing", (listener,))
    seen = []

    class Resolver:
        def resolve(self, host):
            return ("load_balancer", balancer) if host == balancer.dns_name else None

    class Balancers:
        async def handle(self, lb, chosen, request, viewer_ip, path):
            seen.append((request, viewer_ip, path))
            return http1.text_response(200, "ok")

    origin = Origin("lb", balancer.dns_name, "", "custom", "http-only", 80, 443, "", (("X-Origin-Secret", "s3cr3t"),))

    def forwarded(policy: str):
        distribution = Distribution(
            "E1", "arn:cf", "123456789012", "d1.cloudfront.net", (), True, "", (), {"lb": origin},
            (Behaviour("*", "lb", "allow-all", ("GET", "HEAD"), "", policy),),
        )
        request = http1.Request("GET", "/api/x?page=2", "HTTP/1.1", http1.Headers([
            ("Host", "d1.cloudfront.net"), ("Cookie", "session=1"), ("Origin", "https://a.example"),
            ("Accept", "text/html")]))
        response = asyncio.run(Distributions(None, Resolver(), Balancers(), print).handle(
            distribution, request, "192.0.2.7", "/api/x?page=2", "https", "d1.cloudfront.net"))
        assert response.status == 200 and response.headers.get("X-Cache") == "Miss from cloudfront"
        return seen.pop()

    request, edge, path = forwarded(ALL_VIEWER)
    assert path == "/api/x?page=2" and request.headers.get("Host") == "d1.cloudfront.net"
    assert request.headers.get("Cookie") == "session=1" and request.headers.get("Accept") == "text/html"
    assert request.headers.get("X-Forwarded-For") == "192.0.2.7" and request.headers.get("X-Origin-Secret") == "s3cr3t"
    assert edge != "192.0.2.7"  # the load balancer sees CloudFront's address
    request, _, path = forwarded("")
    assert path == "/api/x" and request.headers.get("Host") == balancer.dns_name
    assert request.headers.get("Cookie") is None and request.headers.get("Accept") is None
    assert request.headers.get("User-Agent") == "Amazon CloudFront"
    request, _, path = forwarded(CORS_S3_ORIGIN)
    assert request.headers.get("Origin") == "https://a.example" and request.headers.get("Cookie") is None
    request, _, _ = forwarded(ALL_VIEWER_AND_CLOUDFRONT)
    assert request.headers.get("Cookie") == "session=1"
    assert request.headers.get("CloudFront-Forwarded-Proto") == "https"
    assert request.headers.get("CloudFront-Viewer-Address").startswith("192.0.2.7:")
    assert forwarded(ALL_VIEWER)[0].headers.get("CloudFront-Forwarded-Proto") is None


def plain_listener(port=80, protocol="HTTP", rules=(), default=None, names=()):
    from localcloud.cloud import Action, Listener

    default = default or Action((("arn:tg", 1),), None, None)
    return Listener(f"arn:listener/{port}", port, protocol, default, tuple(rules), tuple(names))


def answer(listener, headers, path="/x?y=1"):
    """What the load balancer's listener answers, and the request a target got (if any)."""
    import asyncio

    from localcloud import http1
    from localcloud.alb import LoadBalancers

    reached = []

    class Forwarding(LoadBalancers):
        async def forward(self, address, port, request):
            reached.append(request)
            return http1.text_response(200, "from the target")

    class Board:
        import threading

        lock = threading.Lock()

        def get(self, *_):
            from types import SimpleNamespace

            return SimpleNamespace(state="healthy", draining_since=None, in_flight=0, instance_ip="10.0.0.5")

    from localcloud.cloud import LoadBalancer, Snapshot, TargetGroup

    snapshot = Snapshot()
    snapshot.target_groups["arn:tg"] = TargetGroup(
        "arn:tg", "tg", 8000, "HTTP", None, "round_robin", 0, (("i-1", 8000),))
    balancers = Forwarding(Board(), lambda: snapshot, None, print)
    balancer = LoadBalancer("arn:lb", "lb", "lb-1.us-east-1.elb.amazonaws.com", "internet-facing", (listener,))
    request = http1.Request("GET", path, "HTTP/1.1", http1.Headers([("Host", balancer.dns_name), *headers]))
    response = asyncio.run(balancers.handle(balancer, listener, request, "203.0.113.9", path))
    return response, (reached[0] if reached else None)


def test_a_listener_forwards_what_its_header_rule_matches_and_answers_the_rest_by_default():
    from localcloud.cloud import Action, Rule

    condition = {"Field": "http-header",
                 "HttpHeaderConfig": {"HttpHeaderName": "X-Origin-Verify", "Values": ["old", "new"]}}
    forward = Action((("arn:tg", 1),), None, None)
    refuse = Action((), {"StatusCode": "403", "ContentType": "text/plain", "MessageBody": "no"}, None)
    listener = plain_listener(443, "HTTPS", [Rule(1, (("http-header", condition),), forward)], refuse)
    for value in ("old", "NEW"):  # header values compare without case, as ELB documents
        response, reached = answer(listener, [("x-origin-verify", value)])
        assert response.status == 200 and reached is not None
        assert reached.headers.get("X-Forwarded-Proto") == "https"
    for headers in ([], [("X-Origin-Verify", "older")], [("X-Other", "old")]):
        response, reached = answer(listener, headers)
        assert (response.status, response.body, reached) == (403, b"no", None)


def test_a_redirect_action_builds_its_location_from_the_request():
    from localcloud.cloud import Action

    to_https = Action((), None, {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"})
    response, reached = answer(plain_listener(default=to_https), [], "/a/b?c=1")
    assert reached is None and response.status == 301
    assert response.headers.get("Location") == "https://lb-1.us-east-1.elb.amazonaws.com/a/b?c=1"
    elsewhere = Action((), None, {"Protocol": "HTTPS", "Port": "8443", "Path": "/moved", "StatusCode": "HTTP_302"})
    response, _ = answer(plain_listener(default=elsewhere), [], "/a")
    assert response.status == 302
    assert response.headers.get("Location") == "https://lb-1.us-east-1.elb.amazonaws.com:8443/moved"


def test_an_https_origin_needs_a_listener_whose_certificate_covers_its_name():
    import asyncio

    from localcloud import http1
    from localcloud.cdn import Distributions
    from localcloud.cloud import Distribution, LoadBalancer, Origin

    def through(listener, domain):
        balancer = LoadBalancer("arn:lb", "lb", "lb-1.us-east-1.elb.amazonaws.com", "internet-facing", (listener,))

        class Resolver:
            def resolve(self, host):
                return ("load_balancer", balancer) if host in (domain, balancer.dns_name) else None

        class Balancers:
            async def handle(self, lb, chosen, request, viewer_ip, path):
                return http1.text_response(200, "ok")

        origin = Origin("lb", domain, "", "custom", "https-only", 80, 443, "", ())
        distribution = Distribution(
            "E1", "arn:cf", "123456789012", "d1.cloudfront.net", (), True, "", (), {"lb": origin},
            (Behaviour("*", "lb", "allow-all", ("GET", "HEAD"), "", ""),),
        )
        request = http1.Request("GET", "/", "HTTP/1.1", http1.Headers([("Host", "d1.cloudfront.net")]))
        return asyncio.run(Distributions(None, Resolver(), Balancers(), print).handle(
            distribution, request, "192.0.2.7", "/", "https", "d1.cloudfront.net")).status

    covered = plain_listener(443, "HTTPS", names=("*.example.com",))
    assert through(covered, "origin-web.example.com") == 200
    assert through(covered, "lb-1.us-east-1.elb.amazonaws.com") == 502  # no certificate covers ELB's name
    assert through(plain_listener(443, "HTTP"), "origin-web.example.com") == 502
