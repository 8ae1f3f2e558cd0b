"""ELBv2: a retried CreateListener returns the listener the first call made."""

from __future__ import annotations

import pytest
from support import uid


def test_create_listener_is_idempotent_and_a_port_has_one_listener(client):
    ec2, elb = client("ec2"), client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.33.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.33.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    lb = elb.create_load_balancer(Name=uid("lb-"), Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}]
    create = dict(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=fixed, Tags=[{"Key": "k", "Value": "v"}])
    first = elb.create_listener(**create)["Listeners"][0]["ListenerArn"]
    again = elb.create_listener(**create)["Listeners"][0]["ListenerArn"]
    assert again == first
    assert len(elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == 1
    with pytest.raises(elb.exceptions.DuplicateListenerException):
        elb.create_listener(**{**create, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}]})
