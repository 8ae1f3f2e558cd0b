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
