"""Auto Scaling: target-tracking policies own their CloudWatch alarms."""

from __future__ import annotations

from support import uid


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


def test_a_group_spreads_its_instances_over_its_zones_at_its_template_version(client):
    asg, ec2 = client("autoscaling"), client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.31.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for n, zone in enumerate(zones)
    ]
    template = ec2.create_launch_template(
        LaunchTemplateName=uid("lt-"), LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.small"})
    group = uid("asg-")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=0, MaxSize=4, DesiredCapacity=4, VPCZoneIdentifier=",".join(subnets),
        LaunchTemplate={"LaunchTemplateId": template, "Version": "2"},
    )
    members = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    assert sorted(m["AvailabilityZone"] for m in members) == sorted(zones * 2)
    ids = [m["InstanceId"] for m in members]
    instances = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
    assert {i["Placement"]["AvailabilityZone"] for i in instances} == set(zones)
    assert {i["SubnetId"] for i in instances} == set(subnets)
    assert {i["InstanceType"] for i in instances} == {"t3.small"}
    versions = {t["Value"] for i in instances for t in i["Tags"] if t["Key"] == "aws:ec2launchtemplate:version"}
    assert versions == {"2"}
    # Each member reports the version it was launched from, not the template's default.
    ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="2",
                                       LaunchTemplateData={"InstanceType": "t3.medium"})
    ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="3")
    members = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    assert {m["LaunchTemplate"]["Version"] for m in members} == {"2"}


def test_a_group_name_in_use_is_refused_and_the_group_keeps_its_instances(client):
    asg, ec2 = client("autoscaling"), client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.32.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.32.1.0/24")["Subnet"]["SubnetId"]
    group, config = uid("asg-"), uid("lc-")
    asg.create_launch_configuration(LaunchConfigurationName=config, ImageId="ami-12c6146b", InstanceType="t3.micro")
    create = dict(
        AutoScalingGroupName=group, LaunchConfigurationName=config, MinSize=1, MaxSize=2, VPCZoneIdentifier=subnet
    )
    asg.create_auto_scaling_group(**create)
    (before,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    try:
        asg.create_auto_scaling_group(**create)
    except asg.exceptions.AlreadyExistsFault as err:
        assert err.response["Error"]["Code"] == "AlreadyExists"
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    else:
        raise AssertionError("a second group of the same name was accepted")
    (after,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    assert [i["InstanceId"] for i in after["Instances"]] == [i["InstanceId"] for i in before["Instances"]]
    running = ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": [group]}])
    ids = [i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]]
    assert len(ids) == 1
