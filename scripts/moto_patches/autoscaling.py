"""Auto Scaling: launches balanced across zones at the group's template version;
target-tracking scaling policies and their CloudWatch alarms."""

from __future__ import annotations

import uuid

from .errors import service_module


def launch(group, count: int, version: str | None = None) -> list[str]:
    """Launches `count` instances for a group with a launch template, each in the group's
    subnet whose zone has the fewest of its instances, at `version` (default: the group's
    own), and makes them members. Returns their ids."""
    from moto.autoscaling import models as asg

    backend = group.autoscaling_backend
    subnets = [s for s in (group.vpc_zone_identifier or "").split(",") if s]
    zone_of = {}
    for subnet_id in subnets:
        try:
            zone_of[subnet_id] = backend.ec2_backend.get_subnet(subnet_id).availability_zone
        except Exception:
            zone_of[subnet_id] = subnet_id
    wanted = version or group.launch_template_version or "$Default"
    number = str(group.ec2_launch_template.get_version(wanted).number)
    tags = group.get_propagated_tags()
    tags[asg.ASG_NAME_TAG] = group.name
    tags.update(group.instance_tags)
    ids = []
    for _ in range(count):
        subnet = None
        if subnets:
            per_zone = {zone_of[s]: 0 for s in subnets}
            for member in group.instance_states:
                zone = member.instance._placement.zone
                if zone in per_zone:
                    per_zone[zone] += 1
            subnet = min(subnets, key=lambda s: (per_zone[zone_of[s]], subnets.index(s)))
        reservation = backend.ec2_backend.run_instances(
            group.image_id, 1, None, group.security_groups,
            instance_type=group.instance_type,
            tags={"instance": dict(tags)},
            launch_template={"LaunchTemplateId": group.ec2_launch_template.id, "Version": number},
            is_instance_type_default=False,
            subnet_id=subnet,
        )
        for instance in reservation.instances:
            instance.autoscaling_group = group
            instance.launched_template_version = number
            group.instance_states.append(
                asg.InstanceState(instance, protected_from_scale_in=group.new_instances_protected_from_scale_in)
            )
            ids.append(instance.id)
    return ids


def apply() -> None:
    from moto.autoscaling import models as asg
    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.cloudwatch.models import cloudwatch_backends

    # ---- CreateAutoScalingGroup: one group per name ----------------------------------
    # AWS (Auto Scaling API Reference, CreateAutoScalingGroup → Errors): a name in use is
    # refused with AlreadyExists (400). moto replaced the group, launching a second set of
    # instances and leaving the first running without a group — what a retried create
    # whose first reply was lost met.
    class AlreadyExists(AutoscalingClientError):
        __module__ = service_module("autoscaling")
        code = "AlreadyExists"

    original_create_group = asg.AutoScalingBackend.create_auto_scaling_group

    def create_auto_scaling_group(self, name, *args, **kwargs):
        if name in self.autoscaling_groups:
            raise AlreadyExists(f"AutoScalingGroup by this name already exists - A group with the name {name} already exists")
        return original_create_group(self, name, *args, **kwargs)

    asg.AutoScalingBackend.create_auto_scaling_group = create_auto_scaling_group

    # ---- where and what a group launches ----------------------------------------------
    # AWS (EC2 Auto Scaling User Guide, "Rebalancing activities"; CreateAutoScalingGroup →
    # LaunchTemplate.Version): a group spreads its instances evenly over the zones of its
    # subnets, and launches the template version it names ($Default, $Latest or a number).
    # moto puts every instance in the first subnet, with a random zone in its placement,
    # and launches the template's default version whatever the group says.
    original_replace = asg.FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_autoscaling_group_instances(self, count_needed, propagated_tags):
        if self.ec2_launch_template is None:
            return original_replace(self, count_needed, propagated_tags)
        launch(self, count_needed)

    asg.FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances

    # AWS (DescribeAutoScalingGroups → Instance.LaunchTemplate): each instance reports the
    # template version it was launched from, which is how a rollout tells old from new.
    # moto reports the template's current default version for every instance.
    def instance_launch_template(self):
        group = self.auto_scaling_group
        template = group.ec2_launch_template if group is not None else None
        if template is None:
            return None
        version = getattr(self.instance, "launched_template_version", None)
        return {
            "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name,
            "Version": version or str(template.default_version_number),
        }

    asg.InstanceState.launch_template = property(instance_launch_template)

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
