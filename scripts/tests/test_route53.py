"""Route 53, as the Route 53 API Reference documents it: record sets and
ChangeResourceRecordSets, ListHostedZones, CreateHostedZone's caller reference."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from support import error_code, uid


def change(r53, zone, action, rrset):
    return r53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": rrset}]}
    )


def records(r53, zone):
    return {(r["Name"], r["Type"]): r for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]}


def test_route53_alias_and_txt_round_trip(client):
    r53 = client("route53")
    domain = f"{uid('z')}.example.com"
    zone = r53.create_hosted_zone(Name=domain, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    target = {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": "d111111abcdef8.cloudfront.net.", "EvaluateTargetHealth": False}
    a = {"Name": f"www.{domain}.", "Type": "A", "AliasTarget": target}
    aaaa = dict(a, Type="AAAA")
    txt = {"Name": f"{domain}.", "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": '"v=spf1 -all"'}, {"Value": '"x y"'}]}

    answer = r53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in (a, aaaa, txt)]}
    )
    assert r53.get_change(Id=answer["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    listed = records(r53, zone)
    assert listed[(a["Name"], "A")] == a  # no TTL on an alias record
    assert listed[(a["Name"], "AAAA")] == aaaa
    assert listed[(txt["Name"], "TXT")] == txt
    soa = listed[(f"{domain}.", "SOA")]["ResourceRecords"][0]["Value"]
    assert soa.startswith("ns-") and "{" not in soa

    # CREATE of an existing set fails, even with other values
    with pytest.raises(ClientError) as excinfo:
        change(r53, zone, "CREATE", dict(txt, ResourceRecords=[{"Value": '"other"'}]))
    assert error_code(excinfo) == "InvalidChangeBatch"

    moved = dict(a, AliasTarget=dict(target, DNSName="d222222abcdef8.cloudfront.net."))
    change(r53, zone, "UPSERT", moved)
    assert records(r53, zone)[(a["Name"], "A")] == moved
    txt2 = dict(txt, TTL=60, ResourceRecords=[{"Value": '"v=spf1 include:x -all"'}])
    change(r53, zone, "UPSERT", txt2)
    assert records(r53, zone)[(txt["Name"], "TXT")] == txt2

    # DELETE must match the current values exactly
    for stale in (a, dict(txt2, TTL=300), dict(txt2, ResourceRecords=[{"Value": '"v=spf1 -all"'}]),
                  dict(txt2, Name=f"nope.{domain}.")):
        with pytest.raises(ClientError) as excinfo:
            change(r53, zone, "DELETE", stale)
        assert error_code(excinfo) == "InvalidChangeBatch", stale

    # a failing batch changes nothing
    with pytest.raises(ClientError):
        r53.change_resource_record_sets(
            HostedZoneId=zone,
            ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": moved},
                                     {"Action": "DELETE", "ResourceRecordSet": txt}]},
        )
    assert (a["Name"], "A") in records(r53, zone)

    for rrset in (moved, aaaa, txt2):
        answer = change(r53, zone, "DELETE", rrset)
        assert r53.get_change(Id=answer["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    assert sorted(t for _, t in records(r53, zone)) == ["NS", "SOA"]

    # create / delete / create again of the same set
    change(r53, zone, "CREATE", txt)
    change(r53, zone, "DELETE", txt)
    change(r53, zone, "CREATE", txt)
    assert records(r53, zone)[(txt["Name"], "TXT")] == txt


# --------------------------------------------------------------------------
# ListHostedZones pages
# --------------------------------------------------------------------------


def create_zones(r53, count):
    """`count` zones, in creation order, by bare ID."""
    return [
        r53.create_hosted_zone(Name=f"{uid('page')}.example.com", CallerReference=uuid.uuid4().hex)["HostedZone"][
            "Id"
        ].rsplit("/", 1)[-1]
        for _ in range(count)
    ]


def test_list_hosted_zones_honours_max_items_and_markers(fresh_emulator):
    r53 = fresh_emulator().client("route53")
    zones = create_zones(r53, 3)

    first = r53.list_hosted_zones(MaxItems="2")
    assert [z["Id"].rsplit("/", 1)[-1] for z in first["HostedZones"]] == zones[:2]
    assert first["IsTruncated"] is True
    assert first["MaxItems"] == "2"
    assert first["Marker"] == ""
    # NextMarker is the ID of the first zone of the next page.
    assert first["NextMarker"] == zones[2]

    second = r53.list_hosted_zones(MaxItems="2", Marker=first["NextMarker"])
    assert [z["Id"].rsplit("/", 1)[-1] for z in second["HostedZones"]] == zones[2:]
    assert second["IsTruncated"] is False
    assert "NextMarker" not in second
    assert second["Marker"] == zones[2]

    everything = r53.list_hosted_zones()
    assert len(everything["HostedZones"]) == 3
    assert (everything["IsTruncated"], everything["MaxItems"]) == (False, "100")

    with pytest.raises(ClientError) as excinfo:
        r53.list_hosted_zones(Marker="ZNOSUCHZONE")
    assert error_code(excinfo) == "InvalidInput"


def test_list_hosted_zones_with_page_size_one(fresh_emulator):
    r53 = fresh_emulator("--page-size", "1").client("route53")
    zones = create_zones(r53, 3)

    pages, marker = [], None
    while True:
        answer = r53.list_hosted_zones(MaxItems="100", **({"Marker": marker} if marker else {}))
        pages.append([z["Id"].rsplit("/", 1)[-1] for z in answer["HostedZones"]])
        # The caller's MaxItems is echoed; the page is smaller all the same.
        assert answer["MaxItems"] == "100"
        if not answer["IsTruncated"]:
            assert "NextMarker" not in answer
            break
        marker = answer["NextMarker"]
    assert pages == [[zone] for zone in zones]

    # boto3's own paginator (NextMarker → Marker, as the Rust SDK's) walks the same pages.
    listed = [
        [z["Id"].rsplit("/", 1)[-1] for z in page["HostedZones"]]
        for page in r53.get_paginator("list_hosted_zones").paginate()
    ]
    assert listed == pages


def test_a_caller_reference_creates_one_zone(client):
    r53 = client("route53")
    name, reference = f"{uid('ref')}.example.org", str(uuid.uuid4())
    r53.create_hosted_zone(Name=name, CallerReference=reference)
    with pytest.raises(ClientError) as refused:
        r53.create_hosted_zone(Name=name, CallerReference=reference)
    assert error_code(refused) == "HostedZoneAlreadyExists"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    zones = r53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    assert [z["Name"] for z in zones if z["Name"] == f"{name}."] == [f"{name}."]
