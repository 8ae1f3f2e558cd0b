"""Checks that the emulator (scripts/emulator.py with scripts/moto_patches.py)
answers as AWS documents, through boto3 against a launcher started on a free
loopback port.

    python3 -m pytest scripts/test_moto_patches.py -q
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    log = tmp_path_factory.mktemp("emulator") / "calls.log"
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "emulator.py"), "--port", "0", "--log", str(log), "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("ready http://127.0.0.1:"), line
    yield line.split(" ", 1)[1]
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def client(endpoint):
    def make(service):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


def uid(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


# --------------------------------------------------------------------------
# ElastiCache
# --------------------------------------------------------------------------


@pytest.fixture
def subnet_group(client):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    name = uid("sng-")
    client("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName=name,
        CacheSubnetGroupDescription="test",
        SubnetIds=subnets,
        Tags=[{"Key": "team", "Value": "cache"}],
    )
    return name, subnets


def create_group(ec, group_id, subnet_group_name, **extra):
    args = dict(
        ReplicationGroupId=group_id,
        ReplicationGroupDescription="test group",
        Engine="valkey",
        CacheNodeType="cache.t4g.small",
        NumCacheClusters=3,
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
        AtRestEncryptionEnabled=True,
        TransitEncryptionEnabled=True,
        SecurityGroupIds=["sg-0123456789abcdef0"],
        CacheSubnetGroupName=subnet_group_name,
        Tags=[{"Key": "app", "Value": "modu"}],
    )
    args.update(extra)
    return ec.create_replication_group(**args)["ReplicationGroup"]


def test_create_replication_group_honours_num_cache_clusters(client, subnet_group):
    ec = client("elasticache")
    rg = uid("rg-")
    created = create_group(ec, rg, subnet_group[0])
    assert created["Status"] == "creating"

    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert group["MemberClusters"] == [f"{rg}-001", f"{rg}-002", f"{rg}-003"]
    assert group["AutomaticFailover"] == "enabled"
    assert group["MultiAZ"] == "enabled"
    assert group["AtRestEncryptionEnabled"] is True
    assert group["TransitEncryptionEnabled"] is True
    assert group["CacheNodeType"] == "cache.t4g.small"
    assert group["Engine"] == "valkey"
    (node_group,) = group["NodeGroups"]
    assert node_group["NodeGroupId"] == "0001"
    primary, reader = node_group["PrimaryEndpoint"], node_group["ReaderEndpoint"]
    assert primary["Address"].startswith(f"{rg}.") and primary["Address"].endswith(".ng.0001.use1.cache.amazonaws.com")
    assert reader["Address"].startswith(f"{rg}-ro.") and reader["Address"].endswith(".ng.0001.use1.cache.amazonaws.com")
    assert primary["Port"] == reader["Port"] == 6379
    members = node_group["NodeGroupMembers"]
    assert [m["CacheClusterId"] for m in members] == group["MemberClusters"]
    assert [m["CurrentRole"] for m in members] == ["primary", "replica", "replica"]
    assert all(m["CacheNodeId"] == "0001" and m["ReadEndpoint"]["Port"] == 6379 for m in members)
    assert [m["PreferredAvailabilityZone"] for m in members] == ["us-east-1a", "us-east-1b", "us-east-1a"]

    # EngineVersion, SecurityGroups and CacheSubnetGroupName are members of
    # CacheCluster (not of ReplicationGroup) in the AWS API.
    clusters = {
        c["CacheClusterId"]: c
        for c in ec.describe_cache_clusters()["CacheClusters"]
        if c.get("ReplicationGroupId") == rg
    }
    assert sorted(clusters) == group["MemberClusters"]
    for cluster in clusters.values():
        assert cluster["EngineVersion"] == "8.0"
        assert cluster["Engine"] == "valkey"
        assert cluster["CacheSubnetGroupName"] == subnet_group[0]
        assert cluster["SecurityGroups"] == [{"SecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}]
        assert cluster["CacheNodeType"] == "cache.t4g.small"
        assert cluster["CacheClusterStatus"] == "available"
        assert cluster["AtRestEncryptionEnabled"] is True


def test_replicas_per_node_group_and_default_redis_version(client, subnet_group):
    ec = client("elasticache")
    rg = uid("rg-")
    ec.create_replication_group(
        ReplicationGroupId=rg,
        ReplicationGroupDescription="d",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        ReplicasPerNodeGroup=1,
        CacheSubnetGroupName=subnet_group[0],
    )
    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert group["MemberClusters"] == [f"{rg}-001", f"{rg}-002"]
    assert group["AutomaticFailover"] == "disabled"
    assert group["MultiAZ"] == "disabled"
    cluster = ec.describe_cache_clusters(CacheClusterId=f"{rg}-001")["CacheClusters"][0]
    assert cluster["EngineVersion"] == "7.1"
    assert cluster["ReplicationGroupId"] == rg


def test_failover_needs_two_nodes_at_create(client, subnet_group):
    ec = client("elasticache")
    with pytest.raises(ClientError) as excinfo:
        create_group(ec, uid("rg-"), subnet_group[0], NumCacheClusters=1)
    assert error_code(excinfo) == "InvalidParameterValue"


def test_delete_replication_group(client, subnet_group):
    ec = client("elasticache")
    rg = uid("rg-")
    create_group(ec, rg, subnet_group[0])
    ec.describe_replication_groups(ReplicationGroupId=rg)
    deleted = ec.delete_replication_group(ReplicationGroupId=rg)["ReplicationGroup"]
    assert deleted["Status"] == "deleting"
    with pytest.raises(ClientError) as excinfo:
        ec.describe_replication_groups(ReplicationGroupId=rg)
    assert error_code(excinfo) == "ReplicationGroupNotFoundFault"
    assert rg not in [g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]]
    remaining = [c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]]
    assert not [c for c in remaining if c.startswith(rg)]
    with pytest.raises(ClientError) as excinfo:
        ec.delete_replication_group(ReplicationGroupId=rg)
    assert error_code(excinfo) == "ReplicationGroupNotFoundFault"


def test_subnet_group_delete_and_modify(client, subnet_group):
    ec = client("elasticache")
    name, subnets = subnet_group
    described = ec.describe_cache_subnet_groups(CacheSubnetGroupName=name)["CacheSubnetGroups"][0]
    assert sorted(s["SubnetAvailabilityZone"]["Name"] for s in described["Subnets"]) == ["us-east-1a", "us-east-1b"]

    modified = ec.modify_cache_subnet_group(CacheSubnetGroupName=name, SubnetIds=subnets[:1])["CacheSubnetGroup"]
    assert [s["SubnetIdentifier"] for s in modified["Subnets"]] == subnets[:1]
    assert ec.describe_cache_subnet_groups(CacheSubnetGroupName=name)["CacheSubnetGroups"][0]["Subnets"] == modified["Subnets"]

    rg = uid("rg-")
    create_group(ec, rg, name)
    with pytest.raises(ClientError) as excinfo:
        ec.delete_cache_subnet_group(CacheSubnetGroupName=name)
    assert error_code(excinfo) == "CacheSubnetGroupInUse"

    ec.delete_replication_group(ReplicationGroupId=rg)
    ec.delete_cache_subnet_group(CacheSubnetGroupName=name)
    with pytest.raises(ClientError) as excinfo:
        ec.describe_cache_subnet_groups(CacheSubnetGroupName=name)
    assert error_code(excinfo) == "CacheSubnetGroupNotFoundFault"
    with pytest.raises(ClientError) as excinfo:
        ec.delete_cache_subnet_group(CacheSubnetGroupName=name)
    assert error_code(excinfo) == "CacheSubnetGroupNotFoundFault"
    with pytest.raises(ClientError) as excinfo:
        ec.modify_cache_subnet_group(CacheSubnetGroupName=name, SubnetIds=subnets)
    assert error_code(excinfo) == "CacheSubnetGroupNotFoundFault"


def test_modify_replication_group(client, subnet_group):
    ec = client("elasticache")
    rg = uid("rg-")
    create_group(ec, rg, subnet_group[0])
    ec.describe_replication_groups(ReplicationGroupId=rg)
    answer = ec.modify_replication_group(
        ReplicationGroupId=rg,
        CacheNodeType="cache.r7g.large",
        AutomaticFailoverEnabled=False,
        MultiAZEnabled=False,
        ApplyImmediately=True,
    )["ReplicationGroup"]
    assert answer["Status"] == "modifying"
    assert answer["CacheNodeType"] == "cache.r7g.large"
    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert group["AutomaticFailover"] == "disabled"
    assert group["MultiAZ"] == "disabled"
    assert group["CacheNodeType"] == "cache.r7g.large"
    cluster = ec.describe_cache_clusters(CacheClusterId=f"{rg}-002")["CacheClusters"][0]
    assert cluster["CacheNodeType"] == "cache.r7g.large"

    answer = ec.modify_replication_group(
        ReplicationGroupId=rg, AutomaticFailoverEnabled=True, MultiAZEnabled=True, ApplyImmediately=True
    )["ReplicationGroup"]
    assert answer["Status"] == "modifying"
    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert (group["AutomaticFailover"], group["MultiAZ"]) == ("enabled", "enabled")

    with pytest.raises(ClientError) as excinfo:
        ec.modify_replication_group(ReplicationGroupId=uid("missing-"), CacheNodeType="cache.t4g.small")
    assert error_code(excinfo) == "ReplicationGroupNotFoundFault"


def test_increase_and_decrease_replica_count(client, subnet_group):
    ec = client("elasticache")
    rg = uid("rg-")
    create_group(ec, rg, subnet_group[0], NumCacheClusters=2)
    ec.describe_replication_groups(ReplicationGroupId=rg)

    answer = ec.increase_replica_count(ReplicationGroupId=rg, NewReplicaCount=3, ApplyImmediately=True)["ReplicationGroup"]
    assert answer["Status"] == "modifying"
    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert group["MemberClusters"] == [f"{rg}-00{i}" for i in range(1, 5)]
    assert len(group["NodeGroups"][0]["NodeGroupMembers"]) == 4
    assert ec.describe_cache_clusters(CacheClusterId=f"{rg}-004")["CacheClusters"][0]["ReplicationGroupId"] == rg

    answer = ec.decrease_replica_count(ReplicationGroupId=rg, NewReplicaCount=1, ApplyImmediately=True)["ReplicationGroup"]
    assert answer["Status"] == "modifying"
    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert group["MemberClusters"] == [f"{rg}-001", f"{rg}-002"]
    with pytest.raises(ClientError) as excinfo:
        ec.describe_cache_clusters(CacheClusterId=f"{rg}-003")
    assert error_code(excinfo) == "CacheClusterNotFound"

    # fewer than one replica while automatic failover is enabled
    with pytest.raises(ClientError) as excinfo:
        ec.decrease_replica_count(ReplicationGroupId=rg, NewReplicaCount=0, ApplyImmediately=True)
    assert error_code(excinfo) == "InvalidParameterValue"
    # a count that does not grow
    with pytest.raises(ClientError) as excinfo:
        ec.increase_replica_count(ReplicationGroupId=rg, NewReplicaCount=1, ApplyImmediately=True)
    assert error_code(excinfo) == "InvalidParameterValue"

    ec.modify_replication_group(ReplicationGroupId=rg, AutomaticFailoverEnabled=False, MultiAZEnabled=False)
    ec.describe_replication_groups(ReplicationGroupId=rg)
    ec.decrease_replica_count(ReplicationGroupId=rg, NewReplicaCount=0, ApplyImmediately=True)
    group = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    assert group["MemberClusters"] == [f"{rg}-001"]


def test_tags_on_replication_and_subnet_groups(client, subnet_group):
    ec = client("elasticache")
    name = subnet_group[0]
    rg = uid("rg-")
    create_group(ec, rg, name)
    rg_arn = f"arn:aws:elasticache:{REGION}:{ACCOUNT}:replicationgroup:{rg}"
    sng_arn = f"arn:aws:elasticache:{REGION}:{ACCOUNT}:subnetgroup:{name}"
    assert ec.list_tags_for_resource(ResourceName=rg_arn)["TagList"] == [{"Key": "app", "Value": "modu"}]
    assert ec.list_tags_for_resource(ResourceName=sng_arn)["TagList"] == [{"Key": "team", "Value": "cache"}]

    added = ec.add_tags_to_resource(ResourceName=rg_arn, Tags=[{"Key": "env", "Value": "dev"}])["TagList"]
    assert sorted((t["Key"], t["Value"]) for t in added) == [("app", "modu"), ("env", "dev")]
    ec.add_tags_to_resource(ResourceName=sng_arn, Tags=[{"Key": "env", "Value": "dev"}])
    tags = ec.list_tags_for_resource(ResourceName=sng_arn)["TagList"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "dev"), ("team", "cache")]
    left = ec.remove_tags_from_resource(ResourceName=rg_arn, TagKeys=["app"])["TagList"]
    assert left == [{"Key": "env", "Value": "dev"}]

    ec.delete_replication_group(ReplicationGroupId=rg)
    with pytest.raises(ClientError) as excinfo:
        ec.list_tags_for_resource(ResourceName=rg_arn)
    assert error_code(excinfo) == "ReplicationGroupNotFoundFault"
    with pytest.raises(ClientError) as excinfo:
        ec.add_tags_to_resource(
            ResourceName=f"arn:aws:elasticache:{REGION}:{ACCOUNT}:subnetgroup:{uid('nope-')}",
            Tags=[{"Key": "a", "Value": "b"}],
        )
    assert error_code(excinfo) == "CacheSubnetGroupNotFoundFault"


# --------------------------------------------------------------------------
# CloudFront
# --------------------------------------------------------------------------


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


@pytest.fixture
def distribution(client):
    cf = client("cloudfront")
    oac = cf.create_origin_access_control(
        OriginAccessControlConfig={
            "Name": uid("oac-"),
            "SigningProtocol": "sigv4",
            "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3",
        }
    )["OriginAccessControl"]["Id"]
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
# CloudWatch (moto already faithful; guards against regressions)
# --------------------------------------------------------------------------


def test_metric_math_alarm_and_tags(client):
    cw = client("cloudwatch")
    name = uid("alarm-")
    metrics = [
        {
            "Id": "errors",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": "HTTPCode_Target_5XX_Count",
                    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/123"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {
            "Id": "requests",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": "RequestCount",
                    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/123"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {"Id": "rate", "Expression": "100 * errors / requests", "Label": "5xx rate", "ReturnData": True},
    ]
    cw.put_metric_alarm(
        AlarmName=name,
        ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=3,
        Threshold=5.0,
        Metrics=metrics,
        Tags=[{"Key": "app", "Value": "modu"}],
    )
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["Metrics"] == metrics
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "app", "Value": "modu"}]


# --------------------------------------------------------------------------
# Route 53
# --------------------------------------------------------------------------


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
# Auto Scaling target tracking (corrected in emulator.py's patch_moto)
# --------------------------------------------------------------------------


def test_target_tracking_policy_alarms(client):
    asg, ec2, cw = client("autoscaling"), client("ec2"), client("cloudwatch")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    group, config = uid("asg-"), uid("lc-")
    asg.create_launch_configuration(LaunchConfigurationName=config, ImageId="ami-12c6146b", InstanceType="t3.micro")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, LaunchConfigurationName=config, MinSize=0, MaxSize=2, VPCZoneIdentifier=subnet
    )
    asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName="cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 50.0,
        },
    )
    (policy,) = asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]
    assert policy["Enabled"] is True
    names = sorted(a["AlarmName"] for a in policy["Alarms"])
    assert len(names) == 2
    assert names[0].startswith(f"TargetTracking-{group}-AlarmHigh-")
    assert names[1].startswith(f"TargetTracking-{group}-AlarmLow-")
    assert len(cw.describe_alarms(AlarmNames=names)["MetricAlarms"]) == 2
    asg.delete_policy(AutoScalingGroupName=group, PolicyName="cpu")
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
