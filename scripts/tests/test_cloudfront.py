"""CloudFront, as the CloudFront API Reference documents it: origins with an origin
access control, ETag/IfMatch, the disable-before-delete rule, ListDistributions."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from support import error_code, uid


def distribution_config(oac_id):
    return {
        "CallerReference": uuid.uuid4().hex,
        "Comment": "site",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "site-bucket",
                    "DomainName": "site-bucket.s3.us-east-1.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                    "OriginAccessControlId": oac_id,
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "site-bucket",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }


def oac_config() -> dict:
    """An S3 origin access control's settings, under a fresh name."""
    return {
        "Name": uid("oac-"),
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
    }


@pytest.fixture
def distribution(client):
    cf = client("cloudfront")
    oac = cf.create_origin_access_control(OriginAccessControlConfig=oac_config())["OriginAccessControl"]["Id"]
    created = cf.create_distribution(DistributionConfig=distribution_config(oac))
    return created, oac


def test_origin_access_control_id_round_trips(client, distribution):
    cf = client("cloudfront")
    created, oac = distribution
    dist_id = created["Distribution"]["Id"]
    # CloudFront is global: its ARNs carry an empty region field.
    assert created["Distribution"]["ARN"].startswith("arn:aws:cloudfront::")
    expected = {"OriginAccessIdentity": ""}
    origin = created["Distribution"]["DistributionConfig"]["Origins"]["Items"][0]
    assert origin["OriginAccessControlId"] == oac and origin["S3OriginConfig"] == expected

    origin = cf.get_distribution(Id=dist_id)["Distribution"]["DistributionConfig"]["Origins"]["Items"][0]
    assert origin["OriginAccessControlId"] == oac and origin["S3OriginConfig"] == expected
    origin = cf.get_distribution_config(Id=dist_id)["DistributionConfig"]["Origins"]["Items"][0]
    assert origin["OriginAccessControlId"] == oac and origin["S3OriginConfig"] == expected

    (summary,) = [d for d in cf.list_distributions()["DistributionList"]["Items"] if d["Id"] == dist_id]
    assert summary["Origins"]["Items"][0]["OriginAccessControlId"] == oac
    assert summary["Comment"] == "site"
    assert summary["Enabled"] is True
    assert summary["DefaultCacheBehavior"]["TargetOriginId"] == "site-bucket"


def test_update_etag_status_and_delete_rules(client, distribution):
    cf = client("cloudfront")
    created, _ = distribution
    dist_id = created["Distribution"]["Id"]
    assert created["Distribution"]["Status"] == "InProgress"
    current = cf.get_distribution_config(Id=dist_id)
    etag = current["ETag"]
    assert cf.get_distribution(Id=dist_id)["Distribution"]["Status"] == "Deployed"

    # still enabled: cannot be deleted
    with pytest.raises(ClientError) as excinfo:
        cf.delete_distribution(Id=dist_id, IfMatch=etag)
    assert error_code(excinfo) == "DistributionNotDisabled"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    config = current["DistributionConfig"]
    config["Enabled"] = False
    with pytest.raises(ClientError) as excinfo:
        cf.update_distribution(Id=dist_id, IfMatch="E2WRONGETAG", DistributionConfig=config)
    assert error_code(excinfo) == "PreconditionFailed"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412

    updated = cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=config)
    assert updated["Distribution"]["Status"] == "InProgress"
    assert updated["ETag"] != etag
    # the old ETag is stale now
    with pytest.raises(ClientError) as excinfo:
        cf.delete_distribution(Id=dist_id, IfMatch=etag)
    assert error_code(excinfo) == "PreconditionFailed"
    # disabled but not yet deployed
    with pytest.raises(ClientError) as excinfo:
        cf.delete_distribution(Id=dist_id, IfMatch=updated["ETag"])
    assert error_code(excinfo) == "DistributionNotDisabled"

    got = cf.get_distribution(Id=dist_id)
    assert got["Distribution"]["Status"] == "Deployed"
    assert got["ETag"] == updated["ETag"]
    assert got["Distribution"]["DistributionConfig"]["Enabled"] is False
    cf.delete_distribution(Id=dist_id, IfMatch=got["ETag"])
    with pytest.raises(ClientError) as excinfo:
        cf.get_distribution(Id=dist_id)
    assert error_code(excinfo) == "NoSuchDistribution"


# --------------------------------------------------------------------------
# ListDistributions pages
# --------------------------------------------------------------------------


def create_distributions(cf, count):
    """`count` distributions, in creation order, by ID."""
    return [cf.create_distribution(DistributionConfig=distribution_config(""))["Distribution"]["Id"] for _ in range(count)]


def test_list_distributions_honours_max_items_and_markers(fresh_emulator):
    cf = fresh_emulator().client("cloudfront")
    ids = create_distributions(cf, 3)

    first = cf.list_distributions(MaxItems="2")["DistributionList"]
    assert [d["Id"] for d in first["Items"]] == ids[:2]
    assert (first["Quantity"], first["MaxItems"], first["Marker"]) == (2, 2, "")
    assert first["IsTruncated"] is True
    # NextMarker is the ID of the last distribution on this page.
    assert first["NextMarker"] == ids[1]

    second = cf.list_distributions(MaxItems="2", Marker=first["NextMarker"])["DistributionList"]
    assert [d["Id"] for d in second["Items"]] == ids[2:]
    assert (second["Quantity"], second["Marker"], second["IsTruncated"]) == (1, ids[1], False)
    assert "NextMarker" not in second

    everything = cf.list_distributions()["DistributionList"]
    assert [d["Id"] for d in everything["Items"]] == ids
    assert (everything["MaxItems"], everything["IsTruncated"]) == (100, False)

    with pytest.raises(ClientError) as excinfo:
        cf.list_distributions(Marker="ENOSUCHDISTRIBUTION")
    assert error_code(excinfo) == "InvalidArgument"


def test_list_distributions_with_page_size_one(fresh_emulator):
    cf = fresh_emulator("--page-size", "1").client("cloudfront")
    ids = create_distributions(cf, 3)

    pages, marker = [], None
    while True:
        listing = cf.list_distributions(MaxItems="100", **({"Marker": marker} if marker else {}))["DistributionList"]
        pages.append([d["Id"] for d in listing["Items"]])
        assert listing["MaxItems"] == 100
        if not listing["IsTruncated"]:
            assert "NextMarker" not in listing
            break
        marker = listing["NextMarker"]
    assert pages == [[dist_id] for dist_id in ids]

    listed = [[d["Id"] for d in page["DistributionList"]["Items"]] for page in cf.get_paginator("list_distributions").paginate()]
    assert listed == pages
    # The summaries on small pages are as complete as on one big page.
    (summary,) = cf.list_distributions(MaxItems="1")["DistributionList"]["Items"]
    assert (summary["Comment"], summary["Enabled"]) == ("site", True)


def self_signed(*names: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for `names` (the first is the subject), as PEM."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_aliases_need_an_issued_us_east_1_certificate_that_covers_them(client):
    cf, acm = client("cloudfront"), client("acm")
    cert, key = self_signed("www.modu-test.net", "*.api.modu-test.net")
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]

    def config(aliases, certificate):
        base = distribution_config("")
        del base["Origins"]["Items"][0]["OriginAccessControlId"]
        base["Aliases"] = {"Quantity": len(aliases), "Items": aliases}
        base["ViewerCertificate"] = certificate
        return base

    with_arn = {"ACMCertificateArn": arn, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"}
    for aliases, certificate in [
        (["www.modu-test.net"], {"CloudFrontDefaultCertificate": True}),  # no certificate at all
        (["other.modu-test.net"], with_arn),  # not covered
        (["a.b.api.modu-test.net"], with_arn),  # a wildcard covers one label only
        (["www.modu-test.net"], {**with_arn, "ACMCertificateArn": arn.replace("us-east-1", "eu-west-1")}),
    ]:
        with pytest.raises(ClientError) as refused:
            cf.create_distribution(DistributionConfig=config(aliases, certificate))
        assert error_code(refused) == "InvalidViewerCertificate", (aliases, certificate)

    created = cf.create_distribution(DistributionConfig=config(["www.modu-test.net", "v1.api.modu-test.net"], with_arn))
    dist_id, etag = created["Distribution"]["Id"], created["ETag"]
    current = cf.get_distribution_config(Id=dist_id)["DistributionConfig"]
    current["Aliases"] = {"Quantity": 1, "Items": ["elsewhere.modu-test.net"]}
    with pytest.raises(ClientError) as refused:
        cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=current)
    assert error_code(refused) == "InvalidViewerCertificate"


def test_origin_access_control_names_are_unique(client):
    cf = client("cloudfront")
    config = oac_config()
    first = cf.create_origin_access_control(OriginAccessControlConfig=config)["OriginAccessControl"]["Id"]
    with pytest.raises(ClientError) as refused:
        cf.create_origin_access_control(OriginAccessControlConfig=config)
    assert error_code(refused) == "OriginAccessControlAlreadyExists"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    named = [c["Id"] for c in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]
             if c["Name"] == config["Name"]]
    assert named == [first]


def test_deleting_a_missing_origin_access_control_is_no_such_origin_access_control(client):
    cf = client("cloudfront")
    config = oac_config()
    created = cf.create_origin_access_control(OriginAccessControlConfig=config)
    control, etag = created["OriginAccessControl"]["Id"], created["ETag"]
    cf.delete_origin_access_control(Id=control, IfMatch=etag)
    with pytest.raises(ClientError) as refused:
        cf.delete_origin_access_control(Id=control, IfMatch=etag)
    assert error_code(refused) == "NoSuchOriginAccessControl"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
