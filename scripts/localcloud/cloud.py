"""What the data planes read of the control plane: plain snapshots of moto's state.

moto's models are mutated by the API server's threads; the data planes never touch them
directly. `Control.snapshot()` copies what they need into frozen dataclasses while holding
the lock the API server takes around every request (`Control.lock`), so each snapshot is
one consistent moment of the account.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field

from moto_patches.cloudfront import certificate_names, issued_names


@dataclass(frozen=True)
class Instance:
    id: str
    account: str
    region: str
    state: str
    private_ip: str
    subnet_cidr: str
    zone: str
    instance_type: str
    image_id: str
    user_data: bytes
    profile_arn: str | None
    http_tokens: str
    tags: dict


@dataclass(frozen=True)
class HealthCheck:
    protocol: str
    port: str  # "traffic-port" or a number
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str  # "200", "200-299", "200,302"
    enabled: bool


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    port: int
    protocol: str
    health: HealthCheck
    algorithm: str
    deregistration_delay: float
    targets: tuple  # ((instance id, port), ...)


@dataclass(frozen=True)
class Action:
    forward: tuple  # ((target group arn, weight), ...); empty for other actions
    fixed: dict | None  # a fixed-response action's config
    redirect: dict | None  # a redirect action's config


@dataclass(frozen=True)
class Rule:
    priority: int
    conditions: tuple  # (field, config) pairs, as CreateRule took them
    action: Action


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    protocol: str
    default: Action
    rules: tuple  # Rule, by priority
    certificate_names: tuple  # what an HTTPS listener's ACM certificate covers


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    scheme: str
    listeners: tuple


@dataclass(frozen=True)
class Record:
    name: str  # lower case, no trailing dot
    type: str
    values: tuple
    alias: str | None  # an alias target's DNS name, lower case, no trailing dot


@dataclass(frozen=True)
class Origin:
    id: str
    domain: str
    path: str
    kind: str  # "custom" or "s3"
    protocol_policy: str  # custom origins: http-only, https-only, match-viewer
    http_port: int
    https_port: int
    access_control: str  # an S3 origin's origin access control id, "" for none
    headers: tuple  # ((name, value), ...) the distribution adds


@dataclass(frozen=True)
class Behaviour:
    pattern: str  # "*" for the default behaviour
    origin: str
    viewer_policy: str  # allow-all, redirect-to-https, https-only
    methods: tuple
    cache_policy: str
    request_policy: str


@dataclass(frozen=True)
class Distribution:
    id: str
    arn: str
    account: str
    domain: str  # dxxxx.cloudfront.net
    aliases: tuple
    enabled: bool
    certificate_arn: str
    certificate_names: tuple  # what that ACM certificate covers (none when it is not issued)
    origins: dict
    behaviours: tuple  # path behaviours in order, then the default one


@dataclass(frozen=True)
class Cache:
    id: str
    account: str
    status: str
    port: int
    tls: bool
    auth_token: str | None
    primary_endpoint: str
    reader_endpoint: str
    members: tuple  # ((cluster id, node address name, "primary"/"replica", subnet cidr), ...)


@dataclass(frozen=True)
class Database:
    id: str
    account: str
    engine: str
    status: str
    address: str
    port: int
    username: str
    password: str
    db_name: str
    subnet_cidr: str


@dataclass
class Snapshot:
    instances: dict = field(default_factory=dict)  # id -> Instance
    load_balancers: dict = field(default_factory=dict)  # dns name -> LoadBalancer
    target_groups: dict = field(default_factory=dict)  # arn -> TargetGroup
    records: dict = field(default_factory=dict)  # (name, type) -> Record, public zones only
    distributions: dict = field(default_factory=dict)  # domain -> Distribution
    caches: dict = field(default_factory=dict)  # (account, replication group id) -> Cache
    databases: dict = field(default_factory=dict)  # (account, DB instance id) -> Database

    def instance_by_ip(self, address: str) -> Instance | None:
        for instance in self.instances.values():
            if instance.private_ip == address and instance.state == "running":
                return instance
        return None


def _number(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _bare(name: str) -> str:
    return name.rstrip(".").lower()


class Control:
    def __init__(self) -> None:
        self.lock = threading.RLock()

    def advance(self) -> None:
        """Moves what the control plane runs over time (instance refreshes) one step."""
        from moto.autoscaling.models import autoscaling_backends

        from . import latency

        with self.lock:
            latency.advance()
            for _, regions in list(autoscaling_backends.items()):
                for backend in list(regions.values()):
                    backend.advance_instance_refreshes()

    def snapshot(self) -> Snapshot:
        from moto.ec2.models import ec2_backends
        from moto.elbv2.models import elbv2_backends
        from moto.cloudfront.models import cloudfront_backends
        from moto.elasticache.models import elasticache_backends
        from moto.rds.models import rds_backends
        from moto.route53.models import route53_backends

        snap = Snapshot()
        with self.lock:
            for account, regions in list(ec2_backends.items()):
                for region, backend in list(regions.items()):
                    for reservation in list(backend.reservations.values()):
                        for instance in reservation.instances:
                            snap.instances[instance.id] = self._instance(account, region, backend, instance)
            for account, regions in list(elbv2_backends.items()):
                for region, backend in list(regions.items()):
                    for group in list(backend.target_groups.values()):
                        snap.target_groups[group.arn] = self._target_group(group)
                    for balancer in list(backend.load_balancers.values()):
                        snap.load_balancers[_bare(balancer.dns_name)] = self._load_balancer(account, balancer)
            for account, partitions in list(route53_backends.items()):
                for backend in list(partitions.values()):
                    for zone in list(backend.zones.values()):
                        if zone.private_zone:
                            continue
                        for rrset in list(zone.rrsets):
                            record = self._record(rrset)
                            snap.records[(record.name, record.type)] = record
            for account, partitions in list(cloudfront_backends.items()):
                for backend in list(partitions.values()):
                    for distribution in list(backend.distributions.values()):
                        found = self._distribution(account, distribution)
                        snap.distributions[found.domain] = found
            for account, regions in list(elasticache_backends.items()):
                for region, backend in list(regions.items()):
                    for group in list(backend.replication_groups.values()):
                        cache = self._cache(account, region, backend, group)
                        if cache is not None:
                            snap.caches[(account, cache.id)] = cache
            for account, regions in list(rds_backends.items()):
                for region, backend in list(regions.items()):
                    for instance in list(backend.databases.values()):
                        snap.databases[(account, instance.db_instance_identifier)] = self._database(
                            account, region, instance
                        )
        return snap

    @staticmethod
    def _first_subnet_cidr(account: str, region: str, subnet_ids) -> str:
        from moto.ec2.models import ec2_backends

        backend = ec2_backends[account][region]
        for subnet_id in subnet_ids or []:
            try:
                return backend.get_subnet(subnet_id).cidr_block
            except Exception:
                continue
        defaults = [s for s in backend.describe_subnets() if getattr(s, "default_for_az", False)]
        return sorted(defaults, key=lambda s: s.cidr_block)[0].cidr_block if defaults else "172.31.0.0/20"

    def _cache(self, account, region, backend, group) -> Cache | None:
        if not group.node_groups:
            return None
        node_group = group.node_groups[0]
        subnet_ids = []
        subnet_group = backend.cache_subnet_groups.get(group.cache_subnet_group_name or "")
        if subnet_group is not None:
            subnet_ids = list(subnet_group.subnet_ids or [])
        cidr = self._first_subnet_cidr(account, region, subnet_ids)
        members = tuple(
            (m["CacheClusterId"], _bare(m["ReadEndpoint"]["Address"]), m.get("CurrentRole", "replica"), cidr)
            for m in node_group.get("NodeGroupMembers", [])
        )
        return Cache(
            id=group.replication_group_id,
            account=account,
            status=group.status,
            port=int(group.port or 6379),
            tls=bool(group.transit_encryption_enabled),
            auth_token=getattr(group, "_local_cloud_auth_token", None),
            primary_endpoint=_bare(node_group["PrimaryEndpoint"]["Address"]),
            reader_endpoint=_bare(node_group["ReaderEndpoint"]["Address"]),
            members=members,
        )

    def _database(self, account, region, instance) -> Database:
        password = getattr(instance, "_master_user_password", "") or ""
        secret = getattr(instance, "master_user_secret", None)
        if getattr(instance, "manage_master_user_password", False) and secret is not None:
            try:
                import json as _json

                current = secret.secretsmanager.get_secret_value(secret.secret.arn, None, None)
                password = _json.loads(current["SecretString"])["password"]
            except Exception:
                password = ""
        subnet_ids = []
        group = getattr(instance, "db_subnet_group", None)
        for subnet in getattr(group, "subnets", None) or []:
            subnet_ids.append(getattr(subnet, "id", subnet))
        return Database(
            id=instance.db_instance_identifier,
            account=account,
            engine=instance.engine or "",
            status=instance.status,
            address=_bare(instance.address),
            port=int(instance.port or 5432),
            username=instance.master_username or "postgres",
            password=password,
            db_name=instance.db_name or "",
            subnet_cidr=self._first_subnet_cidr(account, region, subnet_ids),
        )

    @staticmethod
    def _instance(account, region, backend, instance) -> Instance:
        data = {}
        tags = {t["key"]: t["value"] for t in backend.describe_tags(filters={"resource-id": [instance.id]})}
        template_id = tags.get("aws:ec2launchtemplate:id")
        if template_id:
            try:
                version = backend._get_template_from_args(
                    {"LaunchTemplateId": template_id, "Version": tags.get("aws:ec2launchtemplate:version")}
                )
                data = version.data
            except Exception:  # the template was deleted since: the instance keeps running
                data = {}
        profile = data.get("IamInstanceProfile") or {}
        profile_arn = profile.get("Arn")
        if not profile_arn and profile.get("Name"):
            profile_arn = f"arn:aws:iam::{account}:instance-profile/{profile['Name']}"
        if not profile_arn and instance.iam_instance_profile:
            profile_arn = instance.iam_instance_profile.get("Arn")
        options = data.get("MetadataOptions") or {}
        user_data = b""
        raw = instance.user_data
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if raw is not None:
            encoded = raw.as_bytes() if hasattr(raw, "as_bytes") else str(raw).encode()
            try:
                user_data = base64.b64decode(encoded)
            except ValueError:
                user_data = encoded
        cidr = ""
        if instance.subnet_id:
            try:
                cidr = backend.get_subnet(instance.subnet_id).cidr_block
            except Exception:
                cidr = ""
        return Instance(
            id=instance.id,
            account=account,
            region=region,
            state=instance.state,
            private_ip=instance.private_ip or "",
            subnet_cidr=cidr,
            zone=instance._placement.zone,
            instance_type=instance.instance_type,
            image_id=instance.image_id,
            user_data=user_data,
            profile_arn=profile_arn,
            http_tokens=options.get("HttpTokens", "optional"),
            tags=tags,
        )

    @staticmethod
    def _target_group(group) -> TargetGroup:
        matcher = (getattr(group, "matcher", None) or {}).get("HttpCode", "200")
        health = HealthCheck(
            protocol=(group.health_check_protocol or "HTTP").upper(),
            port=str(group.health_check_port or "traffic-port"),
            path=group.health_check_path or "/",
            interval=_number(group.health_check_interval_seconds, 30),
            timeout=_number(group.health_check_timeout_seconds, 5),
            healthy_threshold=int(_number(group.healthy_threshold_count, 5)),
            unhealthy_threshold=int(_number(group.unhealthy_threshold_count, 2)),
            matcher=str(matcher),
            enabled=bool(group.health_check_enabled),
        )
        return TargetGroup(
            arn=group.arn,
            name=group.name,
            port=int(_number(group.port, 80)),
            protocol=(group.protocol or "HTTP").upper(),
            health=health,
            algorithm=str(group.attributes.get("load_balancing.algorithm.type", "round_robin")),
            deregistration_delay=_number(group.attributes.get("deregistration_delay.timeout_seconds"), 300),
            targets=tuple((t["Id"], int(_number(t.get("Port"), group.port))) for t in group.targets.values()),
        )

    @staticmethod
    def _action(actions) -> Action:
        forward, fixed, redirect = (), None, None
        for action in actions:
            data = action.data if hasattr(action, "data") else action
            if data.get("Type") == "forward":
                groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
                if groups:
                    forward = tuple((g["TargetGroupArn"], int(_number(g.get("Weight"), 1))) for g in groups)
                elif data.get("TargetGroupArn"):
                    forward = ((data["TargetGroupArn"], 1),)
            elif data.get("Type") == "fixed-response":
                fixed = dict(data.get("FixedResponseConfig") or {})
            elif data.get("Type") == "redirect":
                redirect = dict(data.get("RedirectConfig") or {})
        return Action(forward=forward, fixed=fixed, redirect=redirect)

    @classmethod
    def _load_balancer(cls, account, balancer) -> LoadBalancer:
        listeners = []
        for listener in list(balancer.listeners.values()):
            rules = []
            for rule in list(getattr(listener, "_non_default_rules", {}).values()):
                conditions = tuple(
                    (c.get("Field"), c) for c in (rule.conditions or []) if isinstance(c, dict)
                )
                rules.append(Rule(int(_number(rule.priority, 50000)), conditions, cls._action(rule.actions)))
            certificate = getattr(listener, "certificate", None) or ""
            names = issued_names(account, certificate) if certificate else None
            listeners.append(
                Listener(
                    arn=listener.arn,
                    port=int(_number(listener.port, 80)),
                    protocol=(listener.protocol or "HTTP").upper(),
                    default=cls._action(listener.default_actions),
                    rules=tuple(sorted(rules, key=lambda r: r.priority)),
                    certificate_names=tuple(names or ()),
                )
            )
        return LoadBalancer(
            arn=balancer.arn,
            name=balancer.name,
            dns_name=_bare(balancer.dns_name),
            scheme=balancer.scheme or "internet-facing",
            listeners=tuple(listeners),
        )

    @staticmethod
    def _record(rrset) -> Record:
        alias = None
        if rrset.alias_target:
            alias = _bare(rrset.alias_target.get("DNSName", ""))
        return Record(
            name=_bare(rrset.name),
            type=rrset.type,
            values=tuple(r.get("Value", "") if isinstance(r, dict) else str(r) for r in rrset.records or ()),
            alias=alias,
        )

    @staticmethod
    def _distribution(account, distribution) -> Distribution:
        config = distribution.distribution_config
        origins = {}
        for origin in config.Origins["Items"]:
            custom = getattr(origin, "custom_origin_config", None)
            headers = tuple(
                (h["HeaderName"], h["HeaderValue"]) for h in (origin.custom_headers or {}).get("Items") or []
            )
            origins[origin.id] = Origin(
                id=origin.id,
                domain=_bare(origin.domain_name),
                path=origin.origin_path or "",
                kind="custom" if custom is not None else "s3",
                protocol_policy=(custom.origin_protocol_policy if custom else "https-only") or "http-only",
                http_port=int(_number(custom.http_port if custom else 80, 80)),
                https_port=int(_number(custom.https_port if custom else 443, 443)),
                access_control=getattr(origin, "origin_access_control_id", "") or "",
                headers=headers,
            )

        def behaviour(pattern, b) -> Behaviour:
            return Behaviour(
                pattern=pattern,
                origin=b.target_origin_id,
                viewer_policy=b.viewer_protocol_policy,
                methods=tuple(m.upper() for m in b.allowed_methods.items),
                cache_policy=b.cache_policy_id or "",
                request_policy=b.origin_request_policy_id or "",
            )

        behaviours = [
            behaviour(b.path_pattern, b) for b in (config.CacheBehaviors.get("Items") or []) if hasattr(b, "path_pattern")
        ]
        behaviours.append(behaviour("*", config.DefaultCacheBehavior))
        certificate = config.ViewerCertificate
        arn = getattr(certificate, "acm_certificate_arn", "") or ""
        return Distribution(
            id=distribution.distribution_id,
            arn=distribution.arn,
            account=account,
            domain=_bare(distribution.domain_name),
            aliases=tuple(_bare(a) for a in (config.Aliases.get("Items") or [])),
            enabled=str(getattr(config, "Enabled", True)).lower() == "true",
            certificate_arn=getattr(certificate, "acm_certificate_arn", "") or "",
            certificate_names=tuple(certificate_names(account, arn) or ()) if arn else (),
            origins=origins,
            behaviours=tuple(behaviours),
        )
