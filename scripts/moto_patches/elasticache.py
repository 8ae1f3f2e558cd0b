"""ElastiCache: replication groups with cluster mode disabled (their member clusters,
endpoints, deletion, modification and replica counts), cache subnet groups, and tags."""

from __future__ import annotations

import inspect
import random
import string

from .errors import service_module

# AWS (ElastiCache API Reference, CreateReplicationGroup → EngineVersion): without an
# EngineVersion the newest is used; moto reports none at all.
DEFAULT_ENGINE_VERSION = {"redis": "7.1", "valkey": "8.0"}
# AWS (CreateReplicationGroup → ReplicasPerNodeGroup, "Valid values are 0 to 5"): at most 5
# replicas per node group.
MAX_REPLICAS = 5


def _short_region(region: str) -> str:
    """us-east-1 -> use1, ap-southeast-2 -> apse2: the region part of
    ElastiCache endpoint names."""
    parts = region.split("-")
    if len(parts) != 3:
        return region.replace("-", "")
    words = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c"}
    direction = parts[1]
    short = words.get(direction)
    if short is None:
        for word, letter in words.items():
            if direction.startswith(word):
                rest = direction[len(word):]
                short = letter + words.get(rest, rest[:1])
                break
        else:
            short = direction[:1]
    return f"{parts[0]}{short}{parts[2]}"


def apply() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.elasticache import models as m
    from moto.elasticache.exceptions import (
        CacheClusterNotFound,
        CacheSubnetGroupNotFound,
        ElastiCacheException,
        InvalidParameterValueException,
        ReplicationGroupNotFound,
    )
    from moto.elasticache.responses import ElastiCacheResponse

    Backend = m.ElastiCacheBackend

    class CacheSubnetGroupInUse(ElastiCacheException):
        __module__ = service_module("elasticache")
        code = "CacheSubnetGroupInUse"

    # ---- subnet groups: AZ of each subnet --------------------------------
    # AWS (ElastiCache API Reference, DescribeCacheSubnetGroups → Subnet): each subnet of a
    # cache subnet group has SubnetAvailabilityZone.Name. moto stores a bare string
    # (serialized as an empty structure) or, for unknown subnets, a misspelled key.
    original_subnet_group_init = m.CacheSubnetGroup.__init__

    def subnet_group_init(self, *args, **kwargs):
        original_subnet_group_init(self, *args, **kwargs)
        for subnet in self.subnets:
            zone = subnet.pop("Subnet_availability_zone", None) or subnet.get("subnet_availability_zone")
            if isinstance(zone, str):
                zone = {"Name": zone}
            subnet["subnet_availability_zone"] = zone or {}

    m.CacheSubnetGroup.__init__ = subnet_group_init

    def subnet_group_azs(backend, name):
        group = backend.cache_subnet_groups.get(name or "")
        if group is None:
            return []
        zones = []
        for subnet in group.subnets:
            zone = (subnet.get("subnet_availability_zone") or {}).get("Name")
            if zone and zone not in zones:
                zones.append(zone)
        return zones

    # ---- member clusters and node group layout ---------------------------

    cluster_params = [p for p in inspect.signature(m.CacheCluster.__init__).parameters if p != "self"]

    def member_az(backend, group, index):
        zones = group._preferred_azs or subnet_group_azs(backend, group.cache_subnet_group_name)
        if not zones:
            zones = [f"{backend.region_name}a", f"{backend.region_name}b"]
        return zones[index % len(zones)]

    def new_member_cluster(backend, group, cluster_id, zone):
        # AWS (DescribeCacheClusters, ReplicationGroup.MemberClusters): every node of a
        # replication group is a cache cluster of its own, listed by DescribeCacheClusters
        # with the group's settings.
        args = dict.fromkeys(cluster_params)
        args.update(
            account_id=backend.account_id,
            region_name=backend.region_name,
            cache_cluster_id=cluster_id,
            replication_group_id=group.replication_group_id,
            preferred_availability_zone=zone,
            num_cache_nodes=1,
            cache_node_type=group.cache_node_type,
            engine=group.engine,
            engine_version=group.engine_version,
            cache_subnet_group_name=group.cache_subnet_group_name,
            security_group_ids=group.security_group_ids,
            transit_encryption_enabled=group.transit_encryption_enabled,
            snapshot_retention_limit=group.snapshot_retention_limit,
            snapshot_window=group.snapshot_window,
            preferred_maintenance_window=group.preferred_maintenance_window,
            auto_minor_version_upgrade=group.auto_minor_version_upgrade,
            port=group.port,
            network_type=group.network_type,
            ip_discovery=group.ip_discovery,
            log_delivery_configurations=[],
        )
        cluster = m.CacheCluster(**args)
        cluster.replication_group_id = group.replication_group_id  # moto sets it for "redis" only
        cluster.num_cache_nodes = 1
        cluster.cache_cluster_status = "creating"
        cluster.at_rest_encryption_enabled = group.at_rest_encryption_enabled
        sync_member_settings(group, cluster)
        backend.cache_clusters[cluster_id] = cluster
        return cluster

    def sync_member_settings(group, cluster):
        cluster.cache_node_type = group.cache_node_type
        cluster.engine_version = group.engine_version
        cluster.security_group_ids = list(group.security_group_ids or [])
        cluster.security_groups = [{"SecurityGroupId": sg, "Status": "active"} for sg in cluster.security_group_ids]
        major = (group.engine_version or "").split(".")[0]
        cluster.cache_parameter_group = {
            "CacheParameterGroupName": group.cache_parameter_group_name or f"default.{group.engine}{major}",
            "ParameterApplyStatus": "in-sync",
            "CacheNodeIdsToReboot": [],
        }

    def forget(backend, arn):
        backend.tagging_service.delete_all_tags_for_resource(arn)

    def lay_out(backend, group, member_ids):
        """Cluster mode disabled: one node group 0001 holding the primary
        (first id) and its replicas, with AWS-shaped endpoints; the member
        cache clusters are created/deleted to match."""
        for cluster_id in group.member_clusters:
            if cluster_id not in member_ids:
                cluster = backend.cache_clusters.pop(cluster_id, None)
                if cluster is not None:
                    forget(backend, cluster.arn)
        region = _short_region(backend.region_name)
        token = group._endpoint_token
        members = []
        for index, cluster_id in enumerate(member_ids):
            cluster = backend.cache_clusters.get(cluster_id)
            if cluster is None:
                cluster = new_member_cluster(backend, group, cluster_id, member_az(backend, group, index))
            members.append(
                {
                    "CacheClusterId": cluster_id,
                    "CacheNodeId": "0001",
                    "ReadEndpoint": {
                        "Address": f"{cluster_id}.{token}.0001.{region}.cache.amazonaws.com",
                        "Port": group.port,
                    },
                    "PreferredAvailabilityZone": cluster.preferred_availability_zone,
                    "CurrentRole": "primary" if index == 0 else "replica",
                }
            )
        rgid = group.replication_group_id
        group.member_clusters = list(member_ids)
        group.node_groups = [
            {
                "NodeGroupId": "0001",
                "Status": group.status,
                "PrimaryEndpoint": {"Address": f"{rgid}.{token}.ng.0001.{region}.cache.amazonaws.com", "Port": group.port},
                "ReaderEndpoint": {"Address": f"{rgid}-ro.{token}.ng.0001.{region}.cache.amazonaws.com", "Port": group.port},
                "NodeGroupMembers": members,
            }
        ]
        if group.snapshot_retention_limit:
            # AWS snapshots from a replica when there is one.
            group.snapshotting_cluster_id = member_ids[1] if len(member_ids) > 1 else member_ids[0]

    def cluster_mode_disabled(group):
        return group.cluster_mode != "enabled" and len(group.node_groups) <= 1

    def settle(backend, group):
        # AWS (DescribeReplicationGroups → Status, AutomaticFailover): creating and
        # modifying end with `available` (emulated: at the next DescribeReplicationGroups),
        # as `enabling`/`disabling` end in the new state.
        if group.status in ("creating", "modifying"):
            group.status = "available"
        group.automatic_failover = {"enabling": "enabled", "disabling": "disabled"}.get(
            group.automatic_failover, group.automatic_failover
        )
        for node_group in group.node_groups:
            if isinstance(node_group, dict):
                for key in ("Status", "status"):
                    if key in node_group:
                        node_group[key] = "available"
        for cluster_id in group.member_clusters:
            cluster = backend.cache_clusters.get(cluster_id)
            if cluster is not None and cluster.cache_cluster_status in ("creating", "modifying"):
                cluster.cache_cluster_status = "available"

    def get_group(backend, replication_group_id):
        group = backend.replication_groups.get(replication_group_id)
        if group is None:
            raise ReplicationGroupNotFound(replication_group_id)
        return group

    # ---- CreateReplicationGroup -----------------------------------------
    # AWS (ElastiCache API Reference, CreateReplicationGroup, cluster mode disabled):
    # NumCacheClusters nodes (or ReplicasPerNodeGroup + 1), members <id>-001, <id>-002, ...;
    # primary and reader endpoints on the node group; EngineVersion defaulted; the members
    # are cache clusters; the answer says `creating`. moto ignores NumCacheClusters, has no
    # ReaderEndpoint, no version and no member clusters.
    original_create = Backend.create_replication_group

    def create_replication_group(self, *args, **kwargs):
        group = original_create(self, *args, **kwargs)
        group.status = "creating"
        group.engine = (group.engine or "redis").lower()
        group.engine_version = group.engine_version or DEFAULT_ENGINE_VERSION.get(group.engine, "")
        group.security_group_ids = list(group.security_group_ids or [])
        group._preferred_azs = list(kwargs.get("preferred_cache_cluster_azs") or [])
        group._endpoint_token = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
        if not cluster_mode_disabled(group):
            return group
        replicas = kwargs.get("replicas_per_node_group")
        total = replicas + 1 if replicas is not None else (kwargs.get("num_cache_clusters") or 1)
        if total < 1 or total > MAX_REPLICAS + 1:
            del self.replication_groups[group.replication_group_id]
            forget(self, group.arn)
            raise InvalidParameterValueException(
                f"NumCacheClusters must be between 1 and {MAX_REPLICAS + 1}."
            )
        if group.automatic_failover == "enabled" and total < 2:
            # AWS (CreateReplicationGroup → AutomaticFailoverEnabled): automatic failover
            # needs at least one replica.
            del self.replication_groups[group.replication_group_id]
            forget(self, group.arn)
            raise InvalidParameterValueException(
                "When automatic failover is enabled, NumCacheClusters must be at least 2."
            )
        group.member_clusters = []
        lay_out(self, group, [f"{group.replication_group_id}-{n:03d}" for n in range(1, total + 1)])
        return group

    Backend.create_replication_group = create_replication_group

    # ---- DescribeReplicationGroups / DescribeCacheClusters ---------------
    original_describe_groups = Backend.describe_replication_groups

    def describe_replication_groups(self, replication_group_id=None):
        groups = original_describe_groups(self, replication_group_id)
        for group in groups:
            settle(self, group)
        return groups

    Backend.describe_replication_groups = describe_replication_groups

    original_describe_clusters = Backend.describe_cache_clusters

    def describe_cache_clusters(self, cache_cluster_id=None):
        clusters = original_describe_clusters(self, cache_cluster_id)
        for cluster in clusters:
            if cluster.cache_cluster_status in ("creating", "modifying"):
                cluster.cache_cluster_status = "available"
        return clusters

    Backend.describe_cache_clusters = describe_cache_clusters

    # ---- DeleteReplicationGroup ----------------------------------------
    # AWS (ElastiCache API Reference, DeleteReplicationGroup): the answer says `deleting`,
    # then the group and its member clusters are gone (ReplicationGroupNotFoundFault).
    # RetainPrimaryCluster keeps the primary as a standalone cluster. moto stays `deleting`
    # forever.
    def delete_replication_group(self, replication_group_id, retain_primary_cluster=None):
        group = get_group(self, replication_group_id)
        group.status = "deleting"
        keep = group.member_clusters[0] if retain_primary_cluster and group.member_clusters else None
        for cluster_id in group.member_clusters:
            cluster = self.cache_clusters.get(cluster_id)
            if cluster is None:
                continue
            if cluster_id == keep:
                cluster.replication_group_id = None
            else:
                del self.cache_clusters[cluster_id]
                forget(self, cluster.arn)
        del self.replication_groups[replication_group_id]
        forget(self, group.arn)
        return group

    Backend.delete_replication_group = delete_replication_group

    # ---- DeleteCacheSubnetGroup / ModifyCacheSubnetGroup ----------------
    # AWS (ElastiCache API Reference, DeleteCacheSubnetGroup, ModifyCacheSubnetGroup):
    # DeleteCacheSubnetGroup deletes, CacheSubnetGroupNotFoundFault when absent,
    # CacheSubnetGroupInUse while a cluster uses it. moto has neither operation.
    def delete_cache_subnet_group(self, cache_subnet_group_name):
        group = self.cache_subnet_groups.get(cache_subnet_group_name)
        if group is None:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)
        users = list(self.replication_groups.values()) + list(self.cache_clusters.values())
        if any(getattr(user, "cache_subnet_group_name", None) == cache_subnet_group_name for user in users):
            raise CacheSubnetGroupInUse(f"Cache subnet group {cache_subnet_group_name} is currently in use by a cache cluster.")
        del self.cache_subnet_groups[cache_subnet_group_name]
        forget(self, group.arn)

    def modify_cache_subnet_group(self, cache_subnet_group_name, description=None, subnet_ids=None):
        old = self.cache_subnet_groups.get(cache_subnet_group_name)
        if old is None:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)
        new = m.CacheSubnetGroup(
            account_id=self.account_id,
            region_name=self.region_name,
            cache_subnet_group_name=cache_subnet_group_name,
            cache_subnet_group_description=description if description is not None else old.cache_subnet_group_description,
            subnet_ids=subnet_ids or old.subnet_ids,
            tags=old.tags,
        )
        self.cache_subnet_groups[cache_subnet_group_name] = new
        return new

    Backend.delete_cache_subnet_group = delete_cache_subnet_group
    Backend.modify_cache_subnet_group = modify_cache_subnet_group

    def response_delete_cache_subnet_group(self):
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    def response_modify_cache_subnet_group(self):
        group = self.elasticache_backend.modify_cache_subnet_group(
            self._get_param("CacheSubnetGroupName"),
            description=self._get_param("CacheSubnetGroupDescription"),
            subnet_ids=self._get_param("SubnetIds"),
        )
        return ActionResult({"CacheSubnetGroup": group})

    ElastiCacheResponse.delete_cache_subnet_group = response_delete_cache_subnet_group
    ElastiCacheResponse.modify_cache_subnet_group = response_modify_cache_subnet_group

    # ---- ModifyReplicationGroup ----------------------------------------
    # AWS (ElastiCache API Reference, ModifyReplicationGroup): applies the change; the
    # answer says `modifying` (failover `enabling`/`disabling`), later `available`. Not in
    # moto. (Changes are applied at once even without ApplyImmediately: the emulator has no
    # maintenance window.)
    def modify_replication_group(self, replication_group_id, changes):
        group = get_group(self, replication_group_id)
        failover = changes.get("AutomaticFailoverEnabled")
        multi_az = changes.get("MultiAZEnabled")
        if failover and cluster_mode_disabled(group) and len(group.member_clusters) < 2:
            raise InvalidParameterValueException(
                "Automatic failover cannot be enabled on a replication group without replicas."
            )
        if multi_az and not (failover if failover is not None else group.automatic_failover == "enabled"):
            raise InvalidParameterValueException("Multi-AZ requires automatic failover to be enabled.")
        if failover is not None:
            current = group.automatic_failover == "enabled"
            if failover != current:
                group.automatic_failover = "enabling" if failover else "disabling"
            if not failover and multi_az is None:
                group.multi_az = "disabled"
        if multi_az is not None:
            group.multi_az = "enabled" if multi_az else "disabled"
        for key, attribute in (
            ("ReplicationGroupDescription", "description"),
            ("CacheNodeType", "cache_node_type"),
            ("EngineVersion", "engine_version"),
            ("SecurityGroupIds", "security_group_ids"),
            ("SnapshotRetentionLimit", "snapshot_retention_limit"),
            ("SnapshotWindow", "snapshot_window"),
            ("PreferredMaintenanceWindow", "preferred_maintenance_window"),
            ("CacheParameterGroupName", "cache_parameter_group_name"),
            ("AutoMinorVersionUpgrade", "auto_minor_version_upgrade"),
        ):
            if changes.get(key) is not None:
                setattr(group, attribute, changes[key])
        group.status = "modifying"
        for cluster_id in group.member_clusters:
            cluster = self.cache_clusters.get(cluster_id)
            if cluster is not None:
                sync_member_settings(group, cluster)
                cluster.cache_cluster_status = "modifying"
        return group

    Backend.modify_replication_group = modify_replication_group

    def response_modify_replication_group(self):
        changes = {
            key: self._get_param(key)
            for key in (
                "ReplicationGroupDescription",
                "CacheNodeType",
                "EngineVersion",
                "SecurityGroupIds",
                "SnapshotWindow",
                "PreferredMaintenanceWindow",
                "CacheParameterGroupName",
            )
        }
        for key in ("AutomaticFailoverEnabled", "MultiAZEnabled", "AutoMinorVersionUpgrade", "ApplyImmediately"):
            changes[key] = self._get_bool_param(key)
        changes["SnapshotRetentionLimit"] = self._get_int_param("SnapshotRetentionLimit")
        group = self.elasticache_backend.modify_replication_group(self._get_param("ReplicationGroupId"), changes)
        return ActionResult({"ReplicationGroup": group})

    ElastiCacheResponse.modify_replication_group = response_modify_replication_group

    # ---- IncreaseReplicaCount / DecreaseReplicaCount --------------------
    # AWS (ElastiCache API Reference, IncreaseReplicaCount, DecreaseReplicaCount; cluster
    # mode disabled): NewReplicaCount replicas after the call, members added/removed, answer
    # `modifying`, then `available`; InvalidParameterValue for a count that does not
    # grow/shrink, above 5, or below 1 while automatic failover is enabled. Not in moto.
    def change_replica_count(self, replication_group_id, new_count, apply_immediately, grow, to_remove=None):
        group = get_group(self, replication_group_id)
        if not cluster_mode_disabled(group):
            raise InvalidParameterValueException(
                "Use ReplicaConfiguration to change the replica count of a cluster-mode-enabled replication group."
            )
        if apply_immediately is False:
            raise InvalidParameterValueException("ApplyImmediately=False is not currently supported.")
        if group.status != "available":
            settle(self, group)
        members = list(group.member_clusters)
        current = len(members) - 1
        if to_remove:
            unknown = [c for c in to_remove if c not in members[1:]]
            if unknown:
                raise InvalidParameterValueException(f"Replicas to remove are not replicas of {replication_group_id}: {', '.join(unknown)}")
            if new_count is None:
                new_count = current - len(set(to_remove))
        if new_count is None:
            raise InvalidParameterValueException("The parameter NewReplicaCount must be provided.")
        if grow and new_count <= current:
            raise InvalidParameterValueException(
                f"The new replica count ({new_count}) must be greater than the current replica count ({current})."
            )
        if not grow and new_count >= current:
            raise InvalidParameterValueException(
                f"The new replica count ({new_count}) must be less than the current replica count ({current})."
            )
        if new_count > MAX_REPLICAS or new_count < 0:
            raise InvalidParameterValueException(f"The replica count must be between 0 and {MAX_REPLICAS}.")
        if new_count < 1 and group.automatic_failover in ("enabled", "enabling"):
            raise InvalidParameterValueException(
                "Replica count must be at least 1 when automatic failover is enabled."
            )
        if grow:
            number = 1
            while len(members) < new_count + 1:
                candidate = f"{replication_group_id}-{number:03d}"
                if candidate not in members:
                    members.append(candidate)
                number += 1
        else:
            for cluster_id in to_remove or []:
                if cluster_id in members:
                    members.remove(cluster_id)
            while len(members) > new_count + 1:
                members.pop()
        group.status = "modifying"
        lay_out(self, group, members)
        return group

    Backend.change_replica_count = change_replica_count

    def response_replica_count(grow):
        def handler(self):
            group = self.elasticache_backend.change_replica_count(
                self._get_param("ReplicationGroupId"),
                self._get_int_param("NewReplicaCount"),
                self._get_bool_param("ApplyImmediately"),
                grow,
                to_remove=None if grow else self._get_param("ReplicasToRemove"),
            )
            return ActionResult({"ReplicationGroup": group})

        return handler

    ElastiCacheResponse.increase_replica_count = response_replica_count(True)
    ElastiCacheResponse.decrease_replica_count = response_replica_count(False)

    # ---- tags ------------------------------------------------------------
    # AWS (ElastiCache API Reference, ListTagsForResource, AddTagsToResource,
    # RemoveTagsFromResource): tag operations on the ARN of a missing replication group,
    # subnet group or cluster fail with its NotFound fault; AddTagsToResource and
    # RemoveTagsFromResource answer with the resource's TagList. moto tags anything and
    # answers with nothing.
    def check_tag_target(backend, arn):
        parts = arn.split(":", 6)  # arn:aws:elasticache:<region>:<account>:<kind>:<name>
        kind, name = (parts[5], parts[6]) if len(parts) == 7 else ("", "")
        if kind == "replicationgroup" and name not in backend.replication_groups:
            raise ReplicationGroupNotFound(name)
        if kind == "subnetgroup" and name not in backend.cache_subnet_groups:
            raise CacheSubnetGroupNotFound(name)
        if kind == "cluster" and name not in backend.cache_clusters:
            raise CacheClusterNotFound(name)

    for operation in ("list_tags_for_resource", "add_tags_to_resource", "remove_tags_from_resource"):
        original = getattr(Backend, operation)

        def checked(self, arn, *args, _original=original, **kwargs):
            if self.arn_regex.match(arn or ""):
                check_tag_target(self, arn)
            return _original(self, arn, *args, **kwargs)

        setattr(Backend, operation, checked)

    original_add_tags = ElastiCacheResponse.add_tags_to_resource
    original_remove_tags = ElastiCacheResponse.remove_tags_from_resource

    def with_tag_list(original):
        def handler(self):
            original(self)
            arn = self._get_param("ResourceName")
            return ActionResult({"TagList": self.elasticache_backend.list_tags_for_resource(arn)["Tags"]})

        return handler

    ElastiCacheResponse.add_tags_to_resource = with_tag_list(original_add_tags)
    ElastiCacheResponse.remove_tags_from_resource = with_tag_list(original_remove_tags)
