"""EC2: what a launch template's network interface gives the instances launched from it,
and the routes of a gateway endpoint's route tables; the client tokens of CreateVpcEndpoint and
of launch templates and their versions."""

from __future__ import annotations

from support import uid


def _vpc_with_two_subnets(ec2, second_octet: int):
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{second_octet}.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for n, zone in enumerate(zones)
    ]
    return vpc, subnets


def test_a_template_interface_sets_the_public_address_and_groups_of_group_instances(client):
    ec2, asg = client("ec2"), client("autoscaling")
    vpc, subnets = _vpc_with_two_subnets(ec2, 41)
    for subnet in subnets:
        # A subnet that maps public addresses: the template's `false` must win.
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    group_id = ec2.create_security_group(GroupName=uid("sg-"), Description="app", VpcId=vpc)["GroupId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=uid("lt-"),
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.micro",
            "NetworkInterfaces": [
                {"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [group_id], "DeleteOnTermination": True}
            ],
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    group = uid("asg-")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=2, MaxSize=2, VPCZoneIdentifier=",".join(subnets),
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
    )
    members = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    ids = [m["InstanceId"] for m in members]
    instances = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
    assert len(instances) == 2
    for instance in instances:
        assert "PublicIpAddress" not in instance
        assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group_id]
        assert instance["SubnetId"] in subnets

    # Without the interface's choice, the subnet's mapping decides, as before.
    direct = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])
    assert direct["Instances"][0].get("PublicIpAddress")


def test_a_gateway_endpoints_route_tables_carry_its_route_while_associated(client):
    ec2 = client("ec2")
    vpc, subnets = _vpc_with_two_subnets(ec2, 42)
    tables = [ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in subnets]
    for table, subnet in zip(tables, subnets):
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway", RouteTableIds=[tables[0]]
    )["VpcEndpoint"]["VpcEndpointId"]

    def routed(table):
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        return any(r.get("GatewayId") == endpoint and r.get("DestinationPrefixListId") for r in routes)

    assert routed(tables[0]) and not routed(tables[1])
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, AddRouteTableIds=[tables[1]], RemoveRouteTableIds=[tables[0]])
    assert not routed(tables[0]) and routed(tables[1])
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    assert not routed(tables[1])


def test_a_client_token_creates_one_vpc_endpoint(client):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.35.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    create = dict(
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[table],
        ClientToken=uid("token-"),
    )
    first = ec2.create_vpc_endpoint(**create)["VpcEndpoint"]["VpcEndpointId"]
    again = ec2.create_vpc_endpoint(**create)["VpcEndpoint"]["VpcEndpointId"]
    assert again == first
    found = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in found] == [first]


def test_a_client_token_creates_one_launch_template_and_one_version(client):
    ec2 = client("ec2")
    data = {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    create = dict(LaunchTemplateName=uid("lt-"), LaunchTemplateData=data, ClientToken=uid("token-"))
    first = ec2.create_launch_template(**create)["LaunchTemplate"]["LaunchTemplateId"]
    assert ec2.create_launch_template(**create)["LaunchTemplate"]["LaunchTemplateId"] == first

    version = dict(
        LaunchTemplateId=first,
        LaunchTemplateData={**data, "InstanceType": "t3.small"},
        ClientToken=uid("token-"),
    )
    numbers = [ec2.create_launch_template_version(**version)["LaunchTemplateVersion"]["VersionNumber"]
               for _ in range(2)]
    assert numbers == [2, 2]
    # Another token (or none) is another version.
    del version["ClientToken"]
    assert ec2.create_launch_template_version(**version)["LaunchTemplateVersion"]["VersionNumber"] == 3
    found = ec2.describe_launch_template_versions(LaunchTemplateId=first)["LaunchTemplateVersions"]
    assert sorted(v["VersionNumber"] for v in found) == [1, 2, 3]
