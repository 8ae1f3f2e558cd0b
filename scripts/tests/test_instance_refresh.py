"""Auto Scaling instance refresh on the plain emulator (moto_patches/instance_refresh.py):
the API's shapes and rules; on the local cloud, test_localcloud.py runs refreshes against
real health checks."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import error_code, uid


def group_with_template(client, capacity: int = 2):
    asg, ec2 = client("autoscaling"), client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=uid("lt-"), LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    name = uid("asg-")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=capacity * 2, DesiredCapacity=capacity, VPCZoneIdentifier=subnet,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
    )
    ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.small"})
    return name, template


def refreshes(asg, name):
    return asg.describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]


def members(asg, name):
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {i["InstanceId"] for i in group["Instances"]}, group


def test_a_refresh_replaces_every_instance_and_the_group_keeps_the_desired_configuration(client):
    asg = client("autoscaling")
    name, template = group_with_template(client)
    before, _ = members(asg, name)
    refresh_id = asg.start_instance_refresh(
        AutoScalingGroupName=name,
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template, "Version": "2"}},
        Preferences={"MinHealthyPercentage": 50, "MaxHealthyPercentage": 150},
    )["InstanceRefreshId"]
    for _ in range(10):
        if refreshes(asg, name)[0]["Status"] == "Successful":
            break
    [done] = refreshes(asg, name)
    assert done["InstanceRefreshId"] == refresh_id and done["Status"] == "Successful"
    assert done["PercentageComplete"] == 100 and done["InstancesToUpdate"] == 0
    assert done["Preferences"]["MinHealthyPercentage"] == 50 and done["Preferences"]["MaxHealthyPercentage"] == 150
    assert "EndTime" in done
    after, group = members(asg, name)
    assert len(after) == 2 and not after & before
    assert group["LaunchTemplate"]["Version"] == "2"


def test_one_refresh_at_a_time_and_cancel_or_rollback_need_an_active_one(client):
    asg = client("autoscaling")
    name, _ = group_with_template(client)
    with pytest.raises(ClientError) as refused:
        asg.cancel_instance_refresh(AutoScalingGroupName=name)
    assert error_code(refused) == "ActiveInstanceRefreshNotFound"
    # A checkpoint at 50 % holds the refresh there for an hour.
    asg.start_instance_refresh(AutoScalingGroupName=name, Preferences={
        "MinHealthyPercentage": 50, "CheckpointPercentages": [50], "CheckpointDelay": 3600})
    for _ in range(6):
        current = refreshes(asg, name)[0]
    assert current["Status"] == "InProgress" and current["PercentageComplete"] == 50, current
    assert current["StatusReason"] == "Waiting for checkpoint at 50%"
    with pytest.raises(ClientError) as refused:
        asg.start_instance_refresh(AutoScalingGroupName=name)
    assert error_code(refused) == "InstanceRefreshInProgress"
    asg.cancel_instance_refresh(AutoScalingGroupName=name)
    assert refreshes(asg, name)[0]["Status"] == "Cancelled"
    with pytest.raises(ClientError) as refused:
        asg.rollback_instance_refresh(AutoScalingGroupName=name)
    assert error_code(refused) == "ActiveInstanceRefreshNotFound"


def test_skip_matching_leaves_instances_already_on_the_desired_configuration(client):
    asg = client("autoscaling")
    name, template = group_with_template(client)
    before, _ = members(asg, name)
    asg.start_instance_refresh(
        AutoScalingGroupName=name,
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template, "Version": "1"}},
        Preferences={"SkipMatching": True},
    )
    [done] = refreshes(asg, name)
    assert done["Status"] == "Successful"
    assert members(asg, name)[0] == before


def test_percentages_out_of_range_are_refused(client):
    asg = client("autoscaling")
    name, _ = group_with_template(client)
    for preferences in ({"MaxHealthyPercentage": 250}, {"MinHealthyPercentage": 0, "MaxHealthyPercentage": 200}):
        with pytest.raises(ClientError) as refused:
            asg.start_instance_refresh(AutoScalingGroupName=name, Preferences=preferences)
        assert error_code(refused) == "ValidationError"
