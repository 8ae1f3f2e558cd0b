"""CloudFront's data plane: a distribution answers for its domain (and its aliases) and
sends each request to an origin by its cache behaviours, as CloudFront does.

- The first behaviour whose path pattern matches the path (`*` and `?` wildcards, case
  sensitive, query excluded) decides; the default behaviour takes the rest.
- Viewer protocol policy: plain HTTP is redirected (301) under `redirect-to-https` and
  refused (403) under `https-only`. A method the behaviour does not allow: 403.
- A Host that is neither the distribution's domain nor one of its aliases: 403.
- To a load-balancer origin per its protocol policy and ports. Over HTTPS, the listener on
  that port must speak HTTPS with a certificate covering the origin's domain name, as
  CloudFront checks (else 502, as for an origin it cannot reach). What the origin request
  policy forwards: AWS's managed policies AllViewer, AllViewerAndCloudFrontHeaders-2022-06
  (adds CloudFront-Forwarded-Proto and CloudFront-Viewer-Address), AllViewerExceptHostHeader
  and CORS-S3Origin are known; with none, no cookies, no query string, and the origin's
  own name as Host. CloudFront's X-Forwarded-For, Via and X-Amz-Cf-Id are added, and the
  origin's custom headers.
- To an S3 origin through origin access control: the request counts as the CloudFront
  service principal for this distribution's ARN, and the bucket policy decides (no grant:
  403 AccessDenied, as S3 answers a principal that may not list the bucket).
- Caching is left out: every request reaches its origin (X-Cache says Miss).
"""

from __future__ import annotations

import fnmatch
import json
import os
from email.utils import formatdate
from urllib.parse import unquote

from . import http1
from moto_patches.cloudfront import covers

ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
ALL_VIEWER_AND_CLOUDFRONT = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CORS_S3_ORIGIN = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
CORS_HEADERS = ("origin", "access-control-request-headers", "access-control-request-method")
# The address the origin sees CloudFront connect from (an edge of CloudFront's range).
EDGE_ADDRESS = "130.176.0.1"
POP = "LOCAL1-C1"


def cloudfront_error(status: int, why: str) -> http1.Response:
    body = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n'
        f"<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>\n"
        f"<H1>{status} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n"
        f"{why}\n</BODY></HTML>\n"
    )
    response = http1.text_response(status, body, "text/html")
    response.headers.add("Server", "CloudFront")
    response.headers.add("X-Cache", "Error from cloudfront")
    return response


def s3_error(code: str, message: str, status: int = 403) -> http1.Response:
    request_id = os.urandom(8).hex().upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    )
    response = http1.text_response(status, body, "application/xml")
    response.headers.add("Server", "AmazonS3")
    return response


def matching(behaviours, path: str):
    for behaviour in behaviours:
        pattern = behaviour.pattern if behaviour.pattern.startswith(("/", "*")) else "/" + behaviour.pattern
        if behaviour.pattern == "*" or fnmatch.fnmatchcase(path, pattern):
            return behaviour
    return behaviours[-1]


# --------------------------------------------------------------------------
# Bucket policies, as far as an origin access control needs them
# --------------------------------------------------------------------------


def _listed(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_matches(principal, service: str | None) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if "*" in _listed(principal.get("AWS")):
        return True
    return service is not None and service in _listed(principal.get("Service"))


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, tests in (condition or {}).items():
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                return False
            wanted = [str(v) for v in _listed(expected)]
            if operator in ("StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            elif operator == "StringNotEquals":
                ok = actual not in wanted
            elif operator == "Bool":
                ok = actual.lower() in [w.lower() for w in wanted]
            else:
                return False  # an operator this check does not know: the statement does not apply
            if not ok:
                return False
    return True


def policy_allows(policy: str | None, service: str | None, action: str, resource: str, context: dict) -> bool:
    """Whether a bucket policy lets `service` (or an anonymous caller, for None) do `action`
    on `resource`. An explicit Deny wins; no Allow means no."""
    if not policy:
        return False
    try:
        statements = _listed(json.loads(policy).get("Statement"))
    except (ValueError, AttributeError):
        return False
    allowed = False
    for statement in statements:
        if not _principal_matches(statement.get("Principal"), service):
            continue
        actions = _listed(statement.get("Action"))
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement.get("Resource"))):
            continue
        if not _condition_holds(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class Distributions:
    def __init__(self, control, resolver, load_balancers, log):
        self.control = control
        self.resolver = resolver
        self.load_balancers = load_balancers
        self.log = log

    async def handle(self, distribution, request: http1.Request, viewer_ip: str, path: str,
                     scheme: str, host: str) -> http1.Response:
        response = await self.route(distribution, request, viewer_ip, path, scheme, host)
        request_id = os.urandom(21).hex()
        response.headers.set("Via", f"1.1 {os.urandom(16).hex()}.cloudfront.net (CloudFront)")
        response.headers.set("X-Amz-Cf-Pop", POP)
        response.headers.set("X-Amz-Cf-Id", request_id)
        if response.headers.get("X-Cache") is None:
            response.headers.set("X-Cache", "Miss from cloudfront")
        return response

    async def route(self, distribution, request, viewer_ip, path, scheme, host) -> http1.Response:
        if not distribution.enabled:
            return cloudfront_error(403, "The distribution is disabled.")
        name = host.rstrip(".").lower()
        if name != distribution.domain and name not in distribution.aliases:
            return cloudfront_error(
                403, f"Bad request: {name} is not an alternate domain name (CNAME) of this distribution."
            )
        bare_path = path.split("?", 1)[0]
        behaviour = matching(distribution.behaviours, bare_path)
        if scheme == "http" and behaviour.viewer_policy == "redirect-to-https":
            response = http1.text_response(301, "", "text/html")
            response.headers.add("Location", f"https://{host}{path}")
            response.headers.add("Server", "CloudFront")
            response.headers.add("X-Cache", "Redirect from cloudfront")
            return response
        if scheme == "http" and behaviour.viewer_policy == "https-only":
            return cloudfront_error(403, "This distribution only answers HTTPS.")
        if request.method not in behaviour.methods:
            return cloudfront_error(403, f"This distribution is not configured to allow {request.method} here.")
        origin = distribution.origins.get(behaviour.origin)
        if origin is None:
            return cloudfront_error(502, "The behaviour's origin does not exist.")
        if origin.kind == "s3":
            return self.from_bucket(distribution, origin, request, bare_path)
        return await self.from_custom(distribution, origin, behaviour, request, viewer_ip, path, scheme, host)

    async def from_custom(self, distribution, origin, behaviour, request, viewer_ip, path, scheme, host):
        protocol = origin.protocol_policy
        secure = protocol == "https-only" or (protocol == "match-viewer" and scheme == "https")
        port = origin.https_port if secure else origin.http_port
        found = self.resolver.resolve(origin.domain)
        if found is None or found[0] != "load_balancer":
            return cloudfront_error(502, f"CloudFront wasn't able to resolve the origin domain name {origin.domain}.")
        balancer = found[1]
        listener = next((l for l in balancer.listeners if l.port == port), None)
        if listener is None or listener.protocol != ("HTTPS" if secure else "HTTP"):
            return cloudfront_error(502, f"CloudFront wasn't able to connect to the origin {origin.domain}:{port}.")
        if secure and not covers(listener.certificate_names, origin.domain):
            return cloudfront_error(
                502, f"The origin's certificate does not cover {origin.domain} (CloudFront checks it)."
            )
        policy = behaviour.request_policy
        headers = http1.Headers()
        for key, value in request.headers.without_hop_by_hop().items:
            lower = key.lower()
            if policy in (ALL_VIEWER, ALL_VIEWER_AND_CLOUDFRONT, ALL_VIEWER_EXCEPT_HOST):
                if lower == "host" and policy == ALL_VIEWER_EXCEPT_HOST:
                    continue
                headers.add(key, value)
            elif policy == CORS_S3_ORIGIN and lower in CORS_HEADERS:
                headers.add(key, value)
        if headers.get("Host") is None:
            headers.set("Host", origin.domain)
        if policy == ALL_VIEWER_AND_CLOUDFRONT:
            headers.set("CloudFront-Forwarded-Proto", scheme)
            headers.set("CloudFront-Viewer-Address", f"{viewer_ip}:0")
        if policy not in (ALL_VIEWER, ALL_VIEWER_AND_CLOUDFRONT, ALL_VIEWER_EXCEPT_HOST):
            headers.remove("Cookie")
            path = path.split("?", 1)[0]
            headers.set("User-Agent", "Amazon CloudFront")
        forwarded = request.headers.get("X-Forwarded-For")
        headers.set("X-Forwarded-For", f"{forwarded}, {viewer_ip}" if forwarded else viewer_ip)
        headers.set("Via", f"1.1 {os.urandom(16).hex()}.cloudfront.net (CloudFront)")
        headers.set("X-Amz-Cf-Id", os.urandom(21).hex())
        for name, value in origin.headers:
            headers.set(name, value)
        upstream = http1.Request(request.method, path, "HTTP/1.1", headers, request.body)
        return await self.load_balancers.handle(balancer, listener, upstream, EDGE_ADDRESS, path)

    def from_bucket(self, distribution, origin, request, path: str) -> http1.Response:
        from moto.cloudfront.models import cloudfront_backends
        from moto.s3.models import s3_backends

        bucket = origin.domain.split(".s3", 1)[0]
        key = unquote((origin.path.rstrip("/") + path).lstrip("/"))
        with self.control.lock:
            signed = False
            if origin.access_control:
                for backend in cloudfront_backends[distribution.account].values():
                    control = backend.origin_access_controls.get(origin.access_control)
                    if control is not None:
                        signed = control.signing_behavior in ("always", "no-override")
                        break
            backend = s3_backends[distribution.account]["aws"]
            try:
                found = backend.get_bucket(bucket)
            except Exception:
                return s3_error("NoSuchBucket", "The specified bucket does not exist", 404)
            policy = found.policy.decode() if found.policy else None
            context = {"aws:sourcearn": distribution.arn, "aws:securetransport": "true",
                       "aws:sourceaccount": distribution.account}
            service = "cloudfront.amazonaws.com" if signed else None
            resource = f"arn:aws:s3:::{bucket}/{key}"
            if not policy_allows(policy, service, "s3:GetObject", resource, context):
                return s3_error("AccessDenied", "Access Denied")
            obj = backend.get_object(bucket, key) if key else None
            if obj is None:
                # Without s3:ListBucket, S3 does not say whether a key exists.
                if policy_allows(policy, service, "s3:ListBucket", f"arn:aws:s3:::{bucket}", context):
                    return s3_error("NoSuchKey", "The specified key does not exist.", 404)
                return s3_error("AccessDenied", "Access Denied")
            body = obj.value
            headers = http1.Headers([
                ("Content-Type", obj.metadata.get("Content-Type") or "binary/octet-stream"),
                ("ETag", obj.etag),
                ("Last-Modified", formatdate(obj.last_modified.timestamp(), usegmt=True)),
                ("Server", "AmazonS3"),
            ])
        return http1.Response(200, "OK", headers, body)
