"""ElastiCache, as the ElastiCache API Reference documents it: replication groups
(cluster mode disabled) and their member clusters, subnet groups, tags."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_code, uid


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
