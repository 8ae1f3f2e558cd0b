"""CloudWatch's EC2 metrics and Auto Scaling's target tracking, from what the instances
really do.

- Each instance's CPU use is measured from its sandbox's processes (the CPU time of every
  process of its pid namespace, from /proc; one vCPU each, so at most 100 %) and published
  once a period as `AWS/EC2 CPUUtilization`, by InstanceId and by AutoScalingGroupName.
- A target-tracking policy on ASGAverageCPUUtilization acts as its two alarms say
  (moto_patches/autoscaling.py creates them): AlarmHigh after 3 periods above the target
  scales out to ceil(instances × average / target); AlarmLow after 15 periods below 90 % of
  it scales in the same way, one instance at least, never below the minimum (and not at
  all with DisableScaleIn). After an activity the group waits its warm-up (the policy's
  EstimatedInstanceWarmup, else the group's DefaultInstanceWarmup, else 300 s) before the
  next. The alarms' states follow.

The period is CloudWatch's one minute (detailed monitoring) and every duration here is
multiplied by the local cloud's --time-scale, so a test sees a scale-out in seconds.
"""

from __future__ import annotations

import math
import os
import time

PERIOD = 60.0
HIGH_PERIODS = 3
LOW_PERIODS = 15
DEFAULT_WARMUP = 300.0
TICKS = os.sysconf("SC_CLK_TCK")


def namespace_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def cpu_seconds(namespace: str) -> float:
    """CPU time of every process in a pid namespace, its reaped children's included."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or namespace_of(int(entry)) != namespace:
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat(5); here 11-14 after the name.
        total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def inner_pid(sandbox) -> int | None:
    """The first process inside a sandbox's pid namespace (bwrap's child)."""
    if sandbox is None or sandbox.process is None:
        return None
    try:
        with open(f"/proc/{sandbox.process.pid}/task/{sandbox.process.pid}/children") as children:
            found = children.read().split()
        return int(found[0]) if found else None
    except OSError:
        return None


class Scaling:
    def __init__(self, control, compute, time_scale: float, log):
        self.control = control
        self.compute = compute
        self.period = PERIOD * time_scale
        self.time_scale = time_scale
        self.log = log
        self.last: dict[str, tuple[float, float]] = {}  # instance id -> (when, cpu seconds)
        self.period_started = time.monotonic()
        self.samples: dict[str, list[float]] = {}  # instance id -> utilisation samples of the period
        self.history: dict[str, list[float]] = {}  # group -> average CPU per period, newest last
        self.quiet_until: dict[str, float] = {}  # group -> end of its warm-up

    def sample(self) -> None:
        now = time.monotonic()
        with self.compute.lock:
            running = dict(self.compute.running)
        for instance_id, sandbox in running.items():
            pid = inner_pid(sandbox)
            namespace = namespace_of(pid) if pid else None
            if namespace is None:
                continue
            used = cpu_seconds(namespace)
            before = self.last.get(instance_id)
            self.last[instance_id] = (now, used)
            if before and now > before[0]:
                share = min(100.0, 100.0 * (used - before[1]) / (now - before[0]))
                self.samples.setdefault(instance_id, []).append(max(0.0, share))
        for gone in set(self.last) - set(running):
            self.last.pop(gone, None)
            self.samples.pop(gone, None)
        if now - self.period_started >= self.period:
            self.period_started = now
            self.close_period(now)

    def close_period(self, now: float) -> None:
        from moto.autoscaling.models import autoscaling_backends
        from moto.cloudwatch.models import cloudwatch_backends

        averages = {i: sum(v) / len(v) for i, v in self.samples.items() if v}
        self.samples = {}
        with self.control.lock:
            for account, regions in list(autoscaling_backends.items()):
                for region, backend in list(regions.items()):
                    cloudwatch = cloudwatch_backends[account][region]
                    grouped = {}
                    for group in list(backend.autoscaling_groups.values()):
                        for state in group.instance_states:
                            if state.instance.id in averages:
                                grouped.setdefault(group.name, []).append(averages[state.instance.id])
                    data = []
                    for group_name, values in grouped.items():
                        for value in values:
                            data.append({"MetricName": "CPUUtilization", "Value": value, "Unit": "Percent",
                                         "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group_name}]})
                    for instance_id, value in averages.items():
                        data.append({"MetricName": "CPUUtilization", "Value": value, "Unit": "Percent",
                                     "Dimensions": [{"Name": "InstanceId", "Value": instance_id}]})
                    if data:
                        cloudwatch.put_metric_data("AWS/EC2", data)
                    for group_name, values in grouped.items():
                        history = self.history.setdefault(group_name, [])
                        history.append(sum(values) / len(values))
                        del history[:-LOW_PERIODS]
                        self.track(backend, cloudwatch, backend.autoscaling_groups[group_name], now)

    def track(self, backend, cloudwatch, group, now: float) -> None:
        for policy in list(backend.policies.values()):
            if policy.auto_scaling_group_name != group.name or policy.policy_type != "TargetTrackingScaling":
                continue
            config = policy.target_tracking_configuration
            predefined = getattr(config, "PredefinedMetricSpecification", {}) or {}
            if predefined.get("PredefinedMetricType") != "ASGAverageCPUUtilization":
                continue
            target = float(getattr(config, "TargetValue", 0) or 0)
            if target <= 0:
                continue
            history = self.history.get(group.name, [])
            high = len(history) >= HIGH_PERIODS and all(v > target for v in history[-HIGH_PERIODS:])
            low = len(history) >= LOW_PERIODS and all(v < 0.9 * target for v in history[-LOW_PERIODS:])
            self.alarm_states(cloudwatch, policy, high, low)
            if now < self.quiet_until.get(group.name, 0):
                continue
            current = len(group.instance_states)
            wanted = math.ceil(current * history[-1] / target) if history else current
            if high and wanted > current:
                desired = min(group.max_size, wanted)
            elif low and not str(getattr(config, "DisableScaleIn", "false")).lower() == "true":
                desired = max(group.min_size, min(current - 1, wanted))
            else:
                continue
            if desired == group.desired_capacity:
                continue
            self.log(f"target tracking {policy.name}: {group.name} at {history[-1]:.0f}% CPU "
                     f"(target {target:g}%): {group.desired_capacity} -> {desired}")
            group.set_desired_capacity(desired)
            warmup = policy.estimated_instance_warmup or getattr(group, "default_instance_warmup", None) or DEFAULT_WARMUP
            self.quiet_until[group.name] = now + float(warmup) * self.time_scale
            self.history[group.name] = []

    @staticmethod
    def alarm_states(cloudwatch, policy, high: bool, low: bool) -> None:
        for alarm in getattr(policy, "alarms", []):
            name = alarm["AlarmName"]
            firing = high if "-AlarmHigh-" in name else low
            state = "ALARM" if firing else "OK"
            found = cloudwatch.alarms.get(name)
            if found is not None and found.state_value != state:
                cloudwatch.set_alarm_state(name, f"target tracking: {state}", None, state)
