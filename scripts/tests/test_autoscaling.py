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
