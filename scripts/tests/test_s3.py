"""S3: bucket policies decide by their conditions; GetBucketVersioning answers with a
`VersioningConfiguration`; a versioned bucket empties completely; CreateBucket keeps the tags
it is given."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, uid


def deny_when_secure(name: str, secure: str) -> dict:
    return {
        "Sid": "Tls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": secure}},
    }


def test_a_tls_only_deny_refuses_nothing_sent_over_the_https_stand_in(client):
    s3 = client("s3")
    name = uid("bucket-")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [deny_when_secure(name, "false")]}))
    s3.put_object(Bucket=name, Key="a.txt", Body=b"a")
    assert s3.get_object(Bucket=name, Key="a.txt")["Body"].read() == b"a"
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "a.txt"}]})
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_a_deny_whose_condition_holds_refuses(client):
    s3 = client("s3")
    name = uid("bucket-")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [deny_when_secure(name, "true")]}))
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=name, Key="a.txt", Body=b"a")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_allow_for_another_principal_or_condition_does_not_refuse_the_owner(client):
    s3 = client("s3")
    name = uid("bucket-")
    s3.create_bucket(Bucket=name)
    grant = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1"}},
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [grant]}))
    s3.put_object(Bucket=name, Key="a.txt", Body=b"a")
    assert s3.get_object(Bucket=name, Key="a.txt")["Body"].read() == b"a"


def test_a_versioned_bucket_empties_with_every_version_and_delete_marker(client):
    s3 = client("s3")
    name = uid("bucket-")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket=name, Key="a.txt", Body=body)
    s3.delete_object(Bucket=name, Key="a.txt")
    listed = s3.list_object_versions(Bucket=name)
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"] + listed["DeleteMarkers"]]
    assert len(objects) == 3
    out = s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
    assert out.get("Errors", []) == []
    listed = s3.list_object_versions(Bucket=name)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    s3.delete_bucket(Bucket=name)


def test_versioning_is_answered_as_a_versioning_configuration(client):
    s3 = client("s3")
    name = uid("bucket-")
    s3.create_bucket(Bucket=name)
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    bodies = []
    s3.meta.events.register(
        "after-call.s3.GetBucketVersioning", lambda http_response, **_: bodies.append(http_response.content)
    )
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert b"<VersioningConfiguration" in bodies[0] and b"<Status>Enabled</Status>" in bodies[0], bodies


def test_tags_given_to_create_bucket_are_the_bucket_s_tags(client):
    s3 = client("s3")
    name = uid("bucket-")
    tags = [{"Key": "modu:stack", "Value": "web"}, {"Key": "modu:resource", "Value": "bucket"}]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": tags})
    got = s3.get_bucket_tagging(Bucket=name)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    # Creating one's own bucket again in us-east-1 succeeds and leaves its tags alone.
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": [{"Key": "other", "Value": "x"}]})
    assert len(s3.get_bucket_tagging(Bucket=name)["TagSet"]) == 2


def test_a_bucket_created_without_tags_has_none(client):
    s3 = client("s3")
    name = uid("bucket-")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_tagging(Bucket=name)
    assert missing.value.response["Error"]["Code"] == "NoSuchTagSet"
