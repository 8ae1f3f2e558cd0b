"""ELBv2: a retried CreateLoadBalancer or CreateListener returns what the first call made."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from support import uid


def two_subnets(ec2, second_octet: int) -> list[str]:
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{second_octet}.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(zones)
    ]


def test_create_load_balancer_is_idempotent_and_a_name_has_one_load_balancer(client):
    ec2, elb = client("ec2"), client("elbv2")
    subnets = two_subnets(ec2, 34)
    name = uid("lb-")
    first = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    again = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    assert again == first
    assert len(elb.describe_load_balancers(Names=[name])["LoadBalancers"]) == 1
    with pytest.raises(ClientError) as refused:
        elb.create_load_balancer(Name=name, Subnets=subnets, Scheme="internal")
    assert refused.value.response["Error"]["Code"] == "DuplicateLoadBalancerName"


def test_create_listener_is_idempotent_and_a_port_has_one_listener(client):
    ec2, elb = client("ec2"), client("elbv2")
    subnets = two_subnets(ec2, 33)
    lb = elb.create_load_balancer(Name=uid("lb-"), Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}]
    create = dict(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=fixed, Tags=[{"Key": "k", "Value": "v"}])
    first = elb.create_listener(**create)["Listeners"][0]["ListenerArn"]
    again = elb.create_listener(**create)["Listeners"][0]["ListenerArn"]
    assert again == first
    assert len(elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == 1
    with pytest.raises(elb.exceptions.DuplicateListenerException):
        elb.create_listener(**{**create, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}]})
