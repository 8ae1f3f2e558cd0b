"""Auto Scaling: target-tracking scaling policies and their CloudWatch alarms."""

from __future__ import annotations

import uuid


def apply() -> None:
    from moto.autoscaling import models as asg
    from moto.cloudwatch.models import cloudwatch_backends

    # ---- Enabled ---------------------------------------------------------------
    # AWS (Auto Scaling API Reference, DescribePolicies → ScalingPolicy.Enabled): every
    # policy reports `Enabled`, true unless it was created with Enabled=false (which modu
    # never sends and this correction does not model). moto leaves it out.
    original_policy_init = asg.FakeScalingPolicy.__init__

    def policy_init(self, *args, **kwargs):
        original_policy_init(self, *args, **kwargs)
        self.enabled = True
        self.alarms = []

    asg.FakeScalingPolicy.__init__ = policy_init

    def cloudwatch_of(backend):
        return cloudwatch_backends[backend.account_id][backend.region_name]

    def delete_policy_alarms(backend, policy) -> None:
        names = [alarm["AlarmName"] for alarm in getattr(policy, "alarms", [])]
        if names:
            cloudwatch_of(backend).delete_alarms(names)

    # ---- PutScalingPolicy: the alarms of target tracking -------------------------
    # AWS (Auto Scaling API Reference, PutScalingPolicy and ScalingPolicy.Alarms; EC2
    # Auto Scaling User Guide, "Target tracking scaling policies"): a target-tracking
    # policy owns two CloudWatch alarms, TargetTracking-<asg>-AlarmHigh-<uuid> and
    # ...-AlarmLow-<uuid>, listed in the policy's `Alarms`. Updating the policy
    # (PutScalingPolicy with the same name) keeps them. moto creates none.
    original_put = asg.AutoScalingBackend.put_scaling_policy

    def put_scaling_policy(self, name, policy_type, *args, **kwargs):
        previous = self.policies.get(name)
        policy = original_put(self, name, policy_type, *args, **kwargs)
        if previous is not None and previous.alarms:
            policy.alarms = previous.alarms
        if policy_type == "TargetTrackingScaling" and not policy.alarms:
            policy.alarms = create_target_tracking_alarms(self, policy)
        return policy

    def create_target_tracking_alarms(backend, policy):
        config = policy.target_tracking_configuration
        target = float(getattr(config, "TargetValue", 0) or 0)
        group = policy.auto_scaling_group_name
        cloudwatch = cloudwatch_of(backend)
        alarms = []
        for kind, operator, periods, threshold in (
            ("AlarmHigh", "GreaterThanThreshold", 3, target),
            ("AlarmLow", "LessThanThreshold", 15, target * 0.9),
        ):
            alarm = cloudwatch.put_metric_alarm(
                name=f"TargetTracking-{group}-{kind}-{uuid.uuid4()}",
                namespace="AWS/EC2",
                metric_name="CPUUtilization",
                comparison_operator=operator,
                evaluation_periods=periods,
                period=60,
                threshold=threshold,
                statistic="Average",
                description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.arn}.",
                dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
                alarm_actions=[policy.arn],
            )
            alarms.append({"AlarmName": alarm.name, "AlarmARN": alarm.alarm_arn})
        return alarms

    asg.AutoScalingBackend.put_scaling_policy = put_scaling_policy

    # ---- DeletePolicy --------------------------------------------------------------
    # AWS (Auto Scaling API Reference, DeletePolicy; User Guide, "Target tracking scaling
    # policies"): a step or simple policy leaves its alarms behind, but the alarms of a
    # target-tracking policy are managed by Auto Scaling and deleted with the policy.
    # moto has none to delete.
    original_delete_policy = asg.AutoScalingBackend.delete_policy

    def delete_policy(self, name):
        policy = self.policies.get(name)
        if policy is not None:
            delete_policy_alarms(self, policy)
        original_delete_policy(self, name)

    asg.AutoScalingBackend.delete_policy = delete_policy

    # ---- DeleteAutoScalingGroup ------------------------------------------------------
    # AWS (Auto Scaling API Reference, DeleteAutoScalingGroup): deleting a group that has
    # policies deletes the policies, their alarm actions and any alarm left without an
    # action (so the alarms of its target-tracking policies). moto keeps the policies, so
    # DescribePolicies would still list them after `down`.
    original_delete_group = asg.AutoScalingBackend.delete_auto_scaling_group

    def delete_auto_scaling_group(self, group_name):
        original_delete_group(self, group_name)
        for name, policy in list(self.policies.items()):
            if policy.auto_scaling_group_name == group_name:
                delete_policy_alarms(self, policy)
                self.policies.pop(name, None)

    asg.AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
