"""S3: bucket policies decide by their conditions; GetBucketVersioning's answer; tags given
to CreateBucket.

CreateBucket (S3 API Reference, "CreateBucketConfiguration": `Tags`): a general purpose
bucket can be tagged in the request that creates it, so it never exists untagged. moto 5.2
reads only the location constraint from that body and drops the tags; here they are kept
when the request made the bucket (re-creating one's own bucket in us-east-1 succeeds and
changes nothing).

GetBucketVersioning (S3 API Reference, "GetBucketVersioning", Response Syntax): the body is
a `VersioningConfiguration` element holding `Status` (absent for a bucket that never had
versioning). moto 5.2 names the root `GetBucketVersioningResponse`, which strict XML
clients (the AWS SDK for Rust) refuse.

AWS (IAM User Guide, "Policy evaluation logic", and "IAM JSON policy elements: Condition"):
a statement applies to a request only when its Condition holds; a condition on a key the
request does not carry does not hold; an explicit Deny that applies wins over any Allow.
moto evaluates a bucket policy without the request's context and ignores every condition
operator but StringEquals, so the common TLS-only statement (Deny `s3:*` when
`aws:SecureTransport` is `false`) refuses every object request, and an Allow whose
condition does not hold turns into a Deny.

Here a bucket policy is evaluated against the request context an SDK client gives AWS:
`aws:SecureTransport` is `true` (the emulator's loopback endpoint stands for S3's HTTPS
endpoint, which the SDKs use), and the caller is the bucket's own account. Condition
operators: Bool, StringEquals, StringNotEquals, StringLike, ArnEquals, ArnLike; a
statement with any other operator does not apply.
"""

from __future__ import annotations

import fnmatch
import json

import xmltodict


def _listed(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _applies_to_caller(principal, account: str) -> bool:
    """Whether the statement's Principal covers a caller of the bucket's own account."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for given in _listed(principal.get("AWS")):
        if given in ("*", account, f"arn:aws:iam::{account}:root"):
            return True
    return False


def _condition_holds(condition, context: dict) -> bool:
    for operator, tests in (condition or {}).items():
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                return False
            wanted = [str(v) for v in _listed(expected)]
            if operator == "Bool":
                ok = actual.lower() in [w.lower() for w in wanted]
            elif operator in ("StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif operator == "StringNotEquals":
                ok = actual not in wanted
            elif operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            else:
                return False
            if not ok:
                return False
    return True


def _matches(patterns, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in _listed(patterns))


def evaluate(policy: str, account: str, action: str, resource: str, context: dict):
    """The bucket policy's verdict on one request: DENIED, PERMITTED or NEUTRAL."""
    from moto.iam.access_control import PermissionResult

    statements = _listed(json.loads(policy).get("Statement"))
    verdict = PermissionResult.NEUTRAL
    for statement in statements:
        if not _applies_to_caller(statement.get("Principal"), account):
            continue
        if "NotAction" in statement:
            if _matches(statement["NotAction"], action):
                continue
        elif not _matches(statement.get("Action"), action):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement.get("Resource"))):
            continue
        if not _condition_holds(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return PermissionResult.DENIED
        if statement.get("Effect") == "Allow":
            verdict = PermissionResult.PERMITTED
    return verdict


VERSIONING = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{}</VersioningConfiguration>'
)


def _creation_tags(body) -> dict[str, str]:
    """The `Tags` of a CreateBucket request's `CreateBucketConfiguration`, if any."""
    if not body:
        return {}
    config = xmltodict.parse(body, force_list={"Tag": True}).get("CreateBucketConfiguration") or {}
    return {t["Key"]: t.get("Value") or "" for t in (config.get("Tags") or {}).get("Tag", [])}


def apply() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    def get_bucket_versioning(self):
        status = self.backend.get_bucket_versioning(self.bucket_name)
        body = VERSIONING.format(f"<Status>{status}</Status>" if status else "")
        return 200, {"Content-Type": "application/xml"}, body

    S3Response.get_bucket_versioning = get_bucket_versioning

    bucket_response_put = S3Response._bucket_response_put

    def _bucket_response_put(self, request, bucket_name, querystring):
        creating = not querystring and bucket_name not in self.backend.buckets
        response = bucket_response_put(self, request, bucket_name, querystring)
        tags = _creation_tags(self.body) if creating else {}
        if tags and bucket_name in self.backend.buckets:
            self.backend.put_bucket_tagging(bucket_name, tags)
        return response

    S3Response._bucket_response_put = _bucket_response_put

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        context = {"aws:securetransport": "true", "aws:sourceaccount": self.account_id}
        return evaluate(policy, self.account_id, action, resource, context)

    FakeBucket.get_permission = get_permission
