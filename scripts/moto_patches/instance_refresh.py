"""Auto Scaling instance refresh: StartInstanceRefresh, DescribeInstanceRefreshes,
CancelInstanceRefresh and RollbackInstanceRefresh, which moto answers with HTTP 500.

As the EC2 Auto Scaling User Guide ("Use an instance refresh to update instances") and the
API reference describe them:

- One refresh at a time per group (InstanceRefreshInProgress otherwise). A
  DesiredConfiguration launch template (version) is what new instances launch with, and
  the group keeps it when the refresh succeeds (rollback restores the previous one).
- Instances are replaced within MinHealthyPercentage (default 90) and MaxHealthyPercentage
  (default 100, up to 200) of the desired capacity, at least one at a time. With a maximum
  above 100 replacements launch first and old instances go once enough are ready; with
  100, old instances go first, down to the minimum.
- A new instance counts once it is healthy (every target group of the group says so, or
  it runs when the group has none) and InstanceWarmup has passed. One that stops running,
  that its target groups call unhealthy once the health-check grace period is over (Auto
  Scaling takes no action on a load balancer's verdict within it: "Set the health check
  grace period for an Auto Scaling group"), or that is not healthy within the grace period
  plus ten minutes, fails the refresh; with AutoRollback the refresh then rolls back (RollbackInProgress, replacing the
  new instances with the previous configuration).
- SkipMatching leaves instances already on the desired configuration; CheckpointPercentages
  pause the refresh for CheckpointDelay (default 3600 s) at each percentage reached.
- Cancel stops starting replacements (Cancelling, then Cancelled).

Time moves when `advance()` is called: the plain emulator calls it whenever refreshes or
groups are described; the local cloud calls it on every look at the control plane, so
"healthy" there is the data plane's real target health.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timezone

from .autoscaling import launch
from .errors import service_module

ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
DEFAULT_CHECKPOINT_DELAY = 3600
HEALTH_DEADLINE = 600  # beyond the grace period


class Refresh:
    def __init__(self, group, preferences: dict, desired: dict | None, strategy: str):
        self.id = str(uuid.uuid4())
        self.group_name = group.name
        self.strategy = strategy
        self.status = "Pending"
        self.reason = ""
        self.started = datetime.now(timezone.utc)
        self.ended = None
        self.preferences = preferences
        self.desired = desired
        self.previous = (group.ec2_launch_template.id if group.ec2_launch_template else None,
                         group.provided_launch_template_version or group.launch_template_version)
        self.target_version = None
        self.to_replace: list[str] = []
        self.launched: dict[str, float] = {}  # new instance id -> launch time
        self.ready_since: dict[str, float] = {}  # new instance id -> first healthy
        self.total = 0
        self.checkpoint_until: float | None = None
        self.checkpoints_done: set[int] = set()

    def number(self, key: str, default):
        value = self.preferences.get(key)
        return default if value in (None, "") else type(default)(value)

    def percentage(self) -> int:
        if self.status == "Successful":
            return 100
        if not self.total:
            return 0
        done = self.total - len(self.to_replace)
        return int(100 * done / self.total)

    def describe(self) -> dict:
        answer = {
            "InstanceRefreshId": self.id,
            "AutoScalingGroupName": self.group_name,
            "Status": self.status,
            "StatusReason": self.reason,
            "StartTime": self.started,
            "PercentageComplete": self.percentage(),
            "InstancesToUpdate": len(self.to_replace),
            "Preferences": {
                "MinHealthyPercentage": self.number("MinHealthyPercentage", 90),
                "MaxHealthyPercentage": self.number("MaxHealthyPercentage", 100),
                "InstanceWarmup": self.number("InstanceWarmup", 0),
                "SkipMatching": bool(self.preferences.get("SkipMatching")),
                "AutoRollback": bool(self.preferences.get("AutoRollback")),
                "CheckpointDelay": self.number("CheckpointDelay", DEFAULT_CHECKPOINT_DELAY),
                "CheckpointPercentages": [int(p) for p in self.preferences.get("CheckpointPercentages") or []],
            },
        }
        if self.ended:
            answer["EndTime"] = self.ended
        if self.desired:
            answer["DesiredConfiguration"] = self.desired
        return answer


def apply() -> None:
    from moto.autoscaling import models as asg
    from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult
    from moto.elbv2.models import elbv2_backends

    class InstanceRefreshInProgress(AutoscalingClientError):
        __module__ = service_module("autoscaling")
        code = "InstanceRefreshInProgress"

    class ActiveInstanceRefreshNotFound(AutoscalingClientError):
        __module__ = service_module("autoscaling")
        code = "ActiveInstanceRefreshNotFound"

    def refreshes_of(backend) -> dict:
        if not hasattr(backend, "instance_refreshes"):
            backend.instance_refreshes = {}  # group name -> [Refresh], newest last
        return backend.instance_refreshes

    def group_of(backend, name):
        group = backend.autoscaling_groups.get(name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        return group

    def version_of(group, version: str | None) -> str:
        template = group.ec2_launch_template
        if template is None:
            return ""
        return str(template.get_version(version or group.launch_template_version).number)

    def instance_version(instance) -> str:
        launched = getattr(instance, "launched_template_version", None)
        if launched:
            return launched
        for tag in instance.get_tags() if hasattr(instance, "get_tags") else []:
            if tag.get("key") == "aws:ec2launchtemplate:version":
                return tag["value"]
        return getattr(instance, "tags", {}).get("aws:ec2launchtemplate:version", "") if isinstance(
            getattr(instance, "tags", None), dict) else ""

    def health(backend, group, instance_id: str) -> str:
        """healthy / unhealthy / pending as the group's load balancers see the instance, or
        stopped when it no longer runs (EC2's own verdict, which no grace period defers)."""
        instance = backend.ec2_backend.get_instance_by_id(instance_id)
        if instance is None or instance.state != "running":
            return "stopped"
        if not group.target_group_arns:
            return "healthy"
        elbv2 = elbv2_backends[backend.account_id][backend.region_name]
        states = []
        for arn in group.target_group_arns:
            target_group = elbv2.target_groups.get(arn)
            if target_group is None:
                continue
            states.append(target_group.health_for({"Id": instance_id}, backend.ec2_backend).status)
        if any(s == "unhealthy" for s in states):
            return "unhealthy"
        return "healthy" if all(s == "healthy" for s in states) else "pending"

    def launch_replacements(backend, group, count: int, version: str) -> list[str]:
        ids = launch(group, count, version) if count else []
        if ids:
            backend.update_attached_target_groups(group.name)
        return ids

    def terminate(backend, group, ids: list[str]) -> None:
        if not ids:
            return
        backend.ec2_backend.terminate_instances(ids)
        elbv2_backends[backend.account_id][backend.region_name].notify_terminate_instances(ids)
        group.instance_states = [s for s in group.instance_states if s.instance.id not in ids]

    def set_version(group, version: str) -> None:
        group.launch_template_version = version
        group.provided_launch_template_version = version

    def begin(backend, group, refresh: Refresh, version: str) -> None:
        refresh.target_version = version
        members = [s.instance for s in group.instance_states]
        skip = bool(refresh.preferences.get("SkipMatching"))
        refresh.to_replace = [i.id for i in members if not (skip and instance_version(i) == version)]
        refresh.total = len(refresh.to_replace)
        refresh.launched.clear()
        refresh.ready_since.clear()

    def step(backend, group, refresh: Refresh, now: float) -> None:
        if refresh.status == "Pending":
            if refresh.desired and refresh.desired.get("LaunchTemplate"):
                wanted = refresh.desired["LaunchTemplate"].get("Version") or "$Default"
                set_version(group, wanted)
            begin(backend, group, refresh, version_of(group, None))
            refresh.status = "InProgress"
        if refresh.status == "Cancelling":
            refresh.status, refresh.ended = "Cancelled", datetime.now(timezone.utc)
            return
        if refresh.status not in ("InProgress", "RollbackInProgress"):
            return
        warmup = refresh.number("InstanceWarmup", 0)
        grace = group.health_check_grace_period or 0
        deadline = grace + HEALTH_DEADLINE
        ready = []
        for instance_id, launched in list(refresh.launched.items()):
            state = health(backend, group, instance_id)
            if state == "healthy":
                refresh.ready_since.setdefault(instance_id, now)
                if now - refresh.ready_since[instance_id] >= warmup:
                    ready.append(instance_id)
            elif state == "stopped" or (state == "unhealthy" and now - launched > grace) or now - launched > deadline:
                fail(backend, group, refresh, f"instance {instance_id} failed its health checks")
                return
        if refresh.checkpoint_until is not None:
            if now < refresh.checkpoint_until:
                return
            refresh.checkpoint_until = None
            refresh.reason = ""
        present = {s.instance.id for s in group.instance_states}
        refresh.to_replace = [i for i in refresh.to_replace if i in present]
        if not refresh.to_replace and len(ready) == len(refresh.launched):
            refresh.status = "Successful" if refresh.status == "InProgress" else "RollbackSuccessful"
            refresh.ended = datetime.now(timezone.utc)
            return
        for percent in sorted(int(p) for p in refresh.preferences.get("CheckpointPercentages") or []):
            if percent not in refresh.checkpoints_done and refresh.percentage() >= percent and percent < 100:
                refresh.checkpoints_done.add(percent)
                refresh.checkpoint_until = now + refresh.number("CheckpointDelay", DEFAULT_CHECKPOINT_DELAY)
                refresh.reason = f"Waiting for checkpoint at {percent}%"
                return
        capacity = group.desired_capacity or len(present)
        minimum = math.ceil(capacity * refresh.number("MinHealthyPercentage", 90) / 100)
        maximum = max(capacity, math.floor(capacity * refresh.number("MaxHealthyPercentage", 100) / 100))
        pending = [i for i in refresh.launched if i not in ready]
        healthy = len(present) - len(pending)  # instances the refresh is not waiting for
        # Old instances go as far as the minimum allows; at least one at a time when
        # nothing else can move (MaxHealthyPercentage 100 at full capacity).
        count = min(len(refresh.to_replace), max(0, healthy - minimum))
        room = maximum - (len(present) - count)
        owed = refresh.total - len(refresh.launched)
        if count == 0 and room <= 0 and not pending and refresh.to_replace:
            count, room = 1, room + 1
        terminate(backend, group, refresh.to_replace[:count])
        refresh.to_replace = refresh.to_replace[count:]
        for instance_id in launch_replacements(backend, group, max(0, min(owed, room)), refresh.target_version):
            refresh.launched[instance_id] = now

    def fail(backend, group, refresh: Refresh, why: str) -> None:
        if refresh.status == "InProgress" and refresh.preferences.get("AutoRollback"):
            rollback(backend, group, refresh, why)
            return
        refresh.status = "Failed" if refresh.status == "InProgress" else "RollbackFailed"
        refresh.reason = why
        refresh.ended = datetime.now(timezone.utc)

    def rollback(backend, group, refresh: Refresh, why: str) -> None:
        template_id, version = refresh.previous
        set_version(group, version)
        refresh.status = "RollbackInProgress"
        refresh.reason = f"rolling back: {why}"
        previous = version_of(group, None)
        refresh.target_version = previous
        changed = [s.instance.id for s in group.instance_states if instance_version(s.instance) != previous]
        # What the refresh launched beyond the desired capacity just goes; the rest is
        # replaced by instances of the previous configuration.
        surplus = max(0, len(group.instance_states) - (group.desired_capacity or 0))
        terminate(backend, group, changed[:surplus])
        refresh.to_replace = changed[surplus:]
        refresh.total = len(refresh.to_replace)
        refresh.launched.clear()
        refresh.ready_since.clear()

    def advance(backend) -> None:
        now = time.monotonic()
        for name, refreshes in list(refreshes_of(backend).items()):
            group = backend.autoscaling_groups.get(name)
            if group is None:
                continue
            for refresh in refreshes:
                if refresh.status in ACTIVE:
                    step(backend, group, refresh, now)

    asg.AutoScalingBackend.advance_instance_refreshes = advance

    # ---- the API ---------------------------------------------------------------------
    def start_instance_refresh(self):
        backend = self.autoscaling_backend
        advance(backend)
        name = self._get_param("AutoScalingGroupName")
        group = group_of(backend, name)
        active = [r for r in refreshes_of(backend).get(name, []) if r.status in ACTIVE]
        if active:
            raise InstanceRefreshInProgress(
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
            )
        preferences = dict(self._get_param("Preferences", {}) or {})
        desired = self._get_param("DesiredConfiguration") or None
        low = int(preferences.get("MinHealthyPercentage") or 90)
        high = int(preferences.get("MaxHealthyPercentage") or 100)
        if not 0 <= low <= 100 or not 100 <= high <= 200:
            raise ValidationError("MinHealthyPercentage must be 0-100 and MaxHealthyPercentage 100-200")
        if high - low > 100:
            raise ValidationError("The difference between MaxHealthyPercentage and MinHealthyPercentage must be 100 or less")
        refresh = Refresh(group, preferences, desired, self._get_param("Strategy") or "Rolling")
        refreshes_of(backend).setdefault(name, []).append(refresh)
        advance(backend)
        return ActionResult({"InstanceRefreshId": refresh.id})

    def describe_instance_refreshes(self):
        backend = self.autoscaling_backend
        advance(backend)
        name = self._get_param("AutoScalingGroupName")
        group_of(backend, name)
        ids = self._get_param("InstanceRefreshIds", []) or []
        found = [r for r in reversed(refreshes_of(backend).get(name, [])) if not ids or r.id in ids]
        return ActionResult({"InstanceRefreshes": [r.describe() for r in found]})

    def cancel_instance_refresh(self):
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        group_of(backend, name)
        active = [r for r in refreshes_of(backend).get(name, []) if r.status in ("Pending", "InProgress")]
        if not active:
            raise ActiveInstanceRefreshNotFound("No in progress or pending Instance Refresh found for this group")
        active[0].status = "Cancelling"
        advance(backend)
        return ActionResult({"InstanceRefreshId": active[0].id})

    def rollback_instance_refresh(self):
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        group = group_of(backend, name)
        active = [r for r in refreshes_of(backend).get(name, []) if r.status in ("Pending", "InProgress")]
        if not active:
            raise ActiveInstanceRefreshNotFound("No in progress or pending Instance Refresh found for this group")
        rollback(backend, group, active[0], "rollback requested")
        advance(backend)
        return ActionResult({"InstanceRefreshId": active[0].id})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh

    original_describe_groups = AutoScalingResponse.describe_auto_scaling_groups

    def describe_auto_scaling_groups(self):
        advance(self.autoscaling_backend)
        return original_describe_groups(self)

    AutoScalingResponse.describe_auto_scaling_groups = describe_auto_scaling_groups
