"""What AWS call an HTTP request is: the service, the operation and whether it
mutates, read from the request alone (shared by the emulator's request log and the
fault-injecting proxy, so both name a call the same way).

`operation` is the API's name for the call: from the query or JSON target, from the
method and path for S3, and for the other REST services (CloudFront, Route 53) from
botocore's model of the service, whose routes (method, path template, query) the
request is matched against, most specific first. The functions read a WSGI environ;
`environ_of` makes one from a raw request line and headers.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qs, unquote

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Head")

# S3 sub-resources (`?tagging`, ...) and the name the operation carries.
S3_SUBRESOURCES = {
    "tagging": "BucketTagging",
    "encryption": "BucketEncryption",
    "publicAccessBlock": "PublicAccessBlock",
    "versioning": "BucketVersioning",
    "policy": "BucketPolicy",
    "ownershipControls": "BucketOwnershipControls",
    "lifecycle": "BucketLifecycleConfiguration",
    "cors": "BucketCors",
    "acl": "BucketAcl",
    "location": "BucketLocation",
    "website": "BucketWebsite",
    "notification": "BucketNotificationConfiguration",
    "logging": "BucketLogging",
    "object-lock": "ObjectLockConfiguration",
    "accelerate": "BucketAccelerateConfiguration",
    "replication": "BucketReplication",
}
VERB = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}


def service_of(environ) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = CREDENTIAL_SCOPE.search(auth)
    if match:
        return match.group(1)
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return "moto-api"
    host = environ.get("HTTP_HOST", "").split(":")[0]
    first = host.split(".")[0]
    return first if first and not first[0].isdigit() and first != "localhost" else "unknown"


def s3_operation(method: str, path: str, query: dict) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "ListBuckets" if method == "GET" else f"{VERB.get(method, method)}Root"
    has_key = len(parts) > 1
    for sub, noun in S3_SUBRESOURCES.items():
        if sub in query:
            noun = noun.replace("Bucket", "Object", 1) if has_key and sub in ("tagging", "acl") else noun
            return VERB.get(method, method) + noun
    if has_key:
        if method == "PUT" and "uploadId" in query:
            return "UploadPart"
        if method == "POST" and "uploads" in query:
            return "CreateMultipartUpload"
        if method == "POST" and "uploadId" in query:
            return "CompleteMultipartUpload"
        if method == "DELETE" and "uploadId" in query:
            return "AbortMultipartUpload"
        return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
            method, f"{VERB.get(method, method)}Object"
        )
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "GET":
        if "versions" in query:
            return "ListObjectVersions"
        if "uploads" in query:
            return "ListMultipartUploads"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
        method, f"{VERB.get(method, method)}Bucket"
    )


def operation_of(environ, service: str, body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return query["Action"][0]
    content_type = environ.get("CONTENT_TYPE", "")
    if body and "x-www-form-urlencoded" in content_type:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "Action" in form:
            return form["Action"][0]
    method = environ.get("REQUEST_METHOD", "GET")
    path = unquote(environ.get("PATH_INFO", "/"))
    if service == "s3":
        return s3_operation(method, path, query)
    return rest_operation(service, method, path, query) or f"{method} {path}"


@functools.lru_cache(maxsize=None)
def rest_routes(service: str) -> tuple:
    """The (method, path pattern, query keys, operation) of every operation of a REST
    service (CloudFront, Route 53...), from botocore's model of it, most specific first;
    empty for a service botocore does not know or that is not REST."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return ()
    if model.protocol not in ("rest-xml", "rest-json"):
        return ()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template, _, query = http["requestUri"].partition("?")
        pattern = "".join(
            # `{Key+}` spans slashes, `{Id}` one segment; everything else is literal.
            ("(.+)" if part.endswith("+}") else "([^/]+)") if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template.rstrip("/") or "/")
        )
        # `?WithTags` needs the key, `?Operation=Tag` the key and its value.
        keys = tuple(sorted((k, v[0]) for k, v in parse_qs(query, keep_blank_values=True).items()))
        literal = len(re.sub(r"\{[^}]+\}", "", template))
        routes.append((http["method"], re.compile(pattern + "/?"), keys, name, (len(keys), literal)))
    # Most specific first: more query keys the operation requires, then more literal path.
    routes.sort(key=lambda route: route[4], reverse=True)
    return tuple(route[:4] for route in routes)


def rest_operation(service: str, method: str, path: str, query: dict) -> str | None:
    """The operation a REST request is, by its method, path and query (`POST
    /2020-05-31/distribution?WithTags` is CreateDistributionWithTags)."""
    for route_method, pattern, keys, name in rest_routes(service):
        if (
            route_method == method
            and pattern.fullmatch(path)
            and all(k in query and (not v or v in query[k]) for k, v in keys)
        ):
            return name
    return None


def is_mutating(method: str, operation: str) -> bool:
    if method in ("GET", "HEAD"):
        return False
    return not operation.startswith(READ_ONLY_PREFIXES)


def environ_of(method: str, target: str, headers) -> dict:
    """The part of a WSGI environ the functions above read, from a request's method,
    its raw target (`/path?query`, still percent-encoded) and its headers."""
    path, _, query = target.partition("?")
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("Content-Type", ""),
        "HTTP_HOST": headers.get("Host", ""),
        "HTTP_AUTHORIZATION": headers.get("Authorization", ""),
        **({"HTTP_X_AMZ_TARGET": headers["X-Amz-Target"]} if headers.get("X-Amz-Target") else {}),
    }
