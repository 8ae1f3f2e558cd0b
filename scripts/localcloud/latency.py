"""`--latency realistic`: resources take the time AWS takes, multiplied by --time-scale.

| resource | transition | seconds on AWS |
|---|---|---|
| EC2 instance | pending → running (boot) | 30 |
| Application Load Balancer | provisioning → active | 180 |
| CloudFront distribution | InProgress → Deployed, after a create, an update or a disable | 240 |
| ElastiCache replication group | creating → available | 480 |
| ElastiCache replication group | deleting → gone | 300 |
| RDS DB instance | creating → available | 600 |
| RDS DB instance | deleting → gone | 300 |

Deleting a load balancer, a launch template, a security group or an Auto Scaling group's
last instance is quick on AWS's side and stays as moto makes it: a distribution's deletion
waits on its disable (a deployment, above), an instance's on its drain and its units'
stop, which the local cloud runs for real.

The figures are typical durations of these operations in one region (the order AWS's own
waiters are built for: CloudFront's polls every 60 s for up to 35 minutes, RDS's every 30 s
for up to an hour); they are a model of the waits, not a measurement. With `none` (the
default) every transition is immediate, as moto makes it.

The states are gated, not scheduled: a resource reports the transitional state until its
time has passed since the operation began, whoever reads it (the API, the data planes).
Deletions that take time leave the resource `deleting` and remove it when due (`advance`,
called on every look the local cloud takes at the control plane).
"""

from __future__ import annotations

import time
from datetime import datetime

SECONDS = {
    "instance_boot": 30,
    "load_balancer": 180,
    "distribution": 240,
    "cache_create": 480,
    "cache_delete": 300,
    "database_create": 600,
    "database_delete": 300,
}

_began: dict[int, float] = {}  # id(resource) -> when its operation began
_deleting: list = []  # (due, action)
_booting: list = []  # the Auto Scaling backend class, once installed
_scale = 1.0


def _start(resource) -> None:
    _began[id(resource)] = time.monotonic()


def _due(resource, kind: str) -> bool:
    began = _began.get(id(resource))
    return began is None or time.monotonic() - began >= SECONDS[kind] * _scale


def _gate(cls, attribute: str, kind: str, busy: str, settled: tuple[str, ...]) -> None:
    """Makes `cls.attribute` read `busy` while the resource's time has not passed and its
    stored value is one it would reach only after (`settled`)."""
    stored = f"_latency_{attribute}"

    def getter(self):
        value = self.__dict__.get(stored)
        if value in settled and not _due(self, kind):
            return busy
        return value

    def setter(self, value):
        self.__dict__[stored] = value

    setattr(cls, attribute, property(getter, setter))


def install(scale: float) -> None:
    global _scale
    _scale = scale
    from moto.autoscaling.models import AutoScalingBackend, InstanceState as GroupMember
    from moto.cloudfront import models as cloudfront
    from moto.ec2.models.instances import Instance, InstanceState
    from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup
    from moto.elbv2.models import FakeLoadBalancer
    from moto.moto_api import state_manager
    from moto.rds.models import DBInstance, RDSBackend

    def timed(cls):
        original = cls.__init__

        def init(self, *args, **kwargs):
            _start(self)
            original(self, *args, **kwargs)

        cls.__init__ = init

    for cls in (Instance, FakeLoadBalancer, ReplicationGroup, DBInstance):
        timed(cls)

    # An instance is pending while it boots, then running (unless something else, such
    # as a termination, changed its state meanwhile).
    def instance_state(self):
        state = self.__dict__.get("_latency__state")
        if state is not None and state.name == "pending" and _due(self, "instance_boot"):
            state.name, state.code = "running", 16
        return state

    def set_instance_state(self, value):
        if value is not None and value.name == "running" and not _due(self, "instance_boot"):
            value = InstanceState("pending", 0)
        self.__dict__["_latency__state"] = value

    Instance._state = property(instance_state, set_instance_state)
    # Auto Scaling registers an instance with its target groups once it runs (InService),
    # not while it boots; `advance` registers the ones that came up since.
    original_register = AutoScalingBackend.update_attached_target_groups

    def update_attached_target_groups(self, group_name):
        group = self.autoscaling_groups[group_name]
        everyone = group.instance_states
        group.instance_states = [m for m in everyone if m.instance.state == "running"]
        try:
            original_register(self, group_name)
        finally:
            group.instance_states = everyone

    AutoScalingBackend.update_attached_target_groups = update_attached_target_groups
    _booting.append(AutoScalingBackend)

    # A member is Pending while its instance boots.
    def lifecycle(self):
        value = self.__dict__.get("_latency_lifecycle_state")
        if value == "InService" and self.instance.state == "pending":
            return "Pending"
        return value

    def set_lifecycle(self, value):
        self.__dict__["_latency_lifecycle_state"] = value

    GroupMember.lifecycle_state = property(lifecycle, set_lifecycle)
    _gate(FakeLoadBalancer, "state", "load_balancer", "provisioning", ("active",))
    # moto activates a load balancer when it is described; hold it while it provisions.
    original_activate = FakeLoadBalancer.activate

    def activate(self):
        if _due(self, "load_balancer"):
            original_activate(self)

    FakeLoadBalancer.activate = activate
    _gate(ReplicationGroup, "status", "cache_create", "creating", ("available", "creating"))
    _gate(DBInstance, "status", "database_create", "creating", ("available",))

    # CloudFront: InProgress for the deployment time after every change.
    state_manager.set_transition(
        model_name="cloudfront::distribution",
        transition={"progression": "time", "seconds": SECONDS["distribution"] * scale},
    )
    original_update = cloudfront.CloudFrontBackend.update_distribution

    def update_distribution(self, *args, **kwargs):
        answer = original_update(self, *args, **kwargs)
        answer[0]._time_progressed = datetime.now()
        return answer

    cloudfront.CloudFrontBackend.update_distribution = update_distribution

    # Deletions that take time: `deleting` now, gone when due.
    _defer_deletion(ElastiCacheBackend, "delete_replication_group", "replication_group_id",
                    "replication_groups", "cache_delete")
    _defer_deletion(RDSBackend, "delete_db_instance", "db_instance_identifier", "databases", "database_delete")


def _defer_deletion(backend_cls, method: str, id_parameter: str, collection: str, kind: str) -> None:
    """`backend_cls.method` marks the resource `deleting` and really deletes it once its
    deletion time has passed (a missing one fails as the original does)."""
    original = getattr(backend_cls, method)

    def delete(self, *args, **kwargs):
        resource_id = args[0] if args else kwargs.get(id_parameter)
        resource = getattr(self, collection).get(resource_id)
        if resource is None:
            return original(self, *args, **kwargs)
        if resource.status != "deleting":
            resource.status = "deleting"
            due = time.monotonic() + SECONDS[kind] * _scale
            _deleting.append((due, lambda: original(self, *args, **kwargs)))
        return resource

    setattr(backend_cls, method, delete)


def advance() -> None:
    """Completes the deletions whose time has come and registers instances that finished
    booting with their groups' target groups (call with the control-plane lock)."""
    if _booting:
        from moto.autoscaling.models import autoscaling_backends

        for _, regions in list(autoscaling_backends.items()):
            for backend in list(regions.values()):
                for name, group in list(backend.autoscaling_groups.items()):
                    if group.target_group_arns and any(getattr(m, "_latency_registered", False) is False
                                                       and m.instance.state == "running" for m in group.instance_states):
                        backend.update_attached_target_groups(name)
                        for member in group.instance_states:
                            if member.instance.state == "running":
                                member._latency_registered = True
    now = time.monotonic()
    for entry in [e for e in _deleting if e[0] <= now]:
        _deleting.remove(entry)
        try:
            entry[1]()
        except Exception:  # deleted meanwhile by other means
            pass


def critical_path(edges: dict[str, list[str]], seconds: dict[str, float]) -> float:
    """The longest chain of durations through a dependency graph (name -> what it waits for)."""
    memo: dict[str, float] = {}

    def longest(name: str) -> float:
        if name not in memo:
            memo[name] = seconds.get(name, 0) + max((longest(d) for d in edges.get(name, [])), default=0)
        return memo[name]

    return max((longest(n) for n in edges), default=0)
