"""Route 53: record-set shapes, ChangeResourceRecordSets validated as one batch,
ListHostedZones in real pages, and one hosted zone per caller reference."""

from __future__ import annotations

import copy

from . import paging
from .errors import service_module

# AWS (Route 53 API Reference, ListHostedZones → maxitems): at most 100 zones per answer,
# even when maxitems asks for more; 100 is also the default.
LIST_DEFAULT = LIST_MOST = 100


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.route53 import models as m
    from moto.route53.exceptions import DnsNameInvalidForZone, InvalidActionValue, InvalidInput, Route53ClientError
    from moto.route53.responses import Route53
    from moto.route53.utils import validate_domain_name

    class InvalidChangeBatch(Route53ClientError):
        __module__ = service_module("route53")

        def __init__(self, messages):
            super().__init__("InvalidChangeBatch", "[" + ", ".join(messages) + "]")

    # ---- one zone per caller reference --------------------------------------
    # AWS (Route 53 API Reference, CreateHostedZone → CallerReference: "a unique string
    # that identifies the request and that allows failed CreateHostedZone requests to be
    # retried without the risk of executing the operation twice"; Errors:
    # HostedZoneAlreadyExists, 409). moto created a second zone, so a retried create (its
    # first reply lost) left two zones of one name.
    class HostedZoneAlreadyExists(Route53ClientError):
        __module__ = service_module("route53")

        def __init__(self, name):
            super().__init__(
                "HostedZoneAlreadyExists",
                f"A hosted zone has already been created with the specified caller reference ({name}).",
            )

    create_hosted_zone = m.Route53Backend.create_hosted_zone

    def create_hosted_zone_once(self, name, private_zone, caller_reference=None, *args, **kwargs):
        if caller_reference and any(z.caller_reference == caller_reference for z in self.zones.values()):
            raise HostedZoneAlreadyExists(name)
        return create_hosted_zone(self, name, private_zone, caller_reference, *args, **kwargs)

    m.Route53Backend.create_hosted_zone = create_hosted_zone_once

    # ---- record sets -------------------------------------------------------
    # AWS (Route 53 API Reference, ResourceRecordSet → TTL, omitted for alias record sets;
    # ResourceRecord → Value): alias
    # record sets have no TTL; the zone's SOA value is a plain string. moto lists TTL 0 for
    # aliases and a stringified dict for SOA.
    original_record_init = m.RecordSet.__init__

    def record_init(self, kwargs):
        original_record_init(self, kwargs)
        if "TTL" not in kwargs:
            self.ttl = None
        self.records = [r.get("Value") if isinstance(r, dict) else r for r in (self.records or [])]

    m.RecordSet.__init__ = record_init

    def key(name, kind, set_identifier):
        return (name.lower().rstrip(".") + ".", kind, set_identifier or None)

    def alias_of(target):
        if not target:
            return None
        return (
            str(target.get("HostedZoneId", "")),
            str(target.get("DNSName", "")).lower().rstrip("."),
            str(target.get("EvaluateTargetHealth", False)).lower(),
        )

    def values_of(ttl, records, alias, extra):
        return (
            None if ttl in (None, "") else int(ttl),
            sorted(str(r) for r in records or []),
            alias_of(alias),
            tuple(None if v is None else str(v).lower() for v in extra),
        )

    extra_fields = ("Weight", "Region", "Failover", "HealthCheckId", "MultiValueAnswer")
    extra_attributes = ("weight", "region", "failover", "health_check_id", "multi_value_answer")

    def stored_values(record):
        return values_of(
            record.ttl, record.records, record.alias_target, [getattr(record, a, None) for a in extra_attributes]
        )

    def requested_values(rrset):
        records = [r.get("Value") if isinstance(r, dict) else r for r in rrset.get("ResourceRecords") or []]
        return values_of(rrset.get("TTL"), records, rrset.get("AliasTarget"), [rrset.get(f) for f in extra_fields])

    # ---- ChangeResourceRecordSets ---------------------------------------------
    # AWS (Route 53 API Reference, ChangeResourceRecordSets: change batches are
    # transactional; error InvalidChangeBatch) validates the whole batch against the zone's current record sets and
    # applies it all or nothing: CREATE of an existing (name, type,
    # SetIdentifier) and DELETE of a missing one, or one whose values do not
    # match exactly, fail with InvalidChangeBatch. moto checks DELETE against
    # its change journal (InvalidInput, any alias target accepted), lets a
    # CREATE duplicate a set whose values differ, and deletes by name only.
    def change_resource_record_sets(self, zoneid, change_list):
        zone = self.get_hosted_zone(zoneid)
        state = {key(r.name, r.type, r.set_identifier): stored_values(r) for r in zone.rrsets}
        zone_name = zone.name.lower().rstrip(".")
        errors = []
        for change in change_list:
            action = change["Action"]
            if action not in ("CREATE", "UPSERT", "DELETE"):
                raise InvalidActionValue(action)
            rrset = change["ResourceRecordSet"]
            validate_domain_name(rrset["Name"], code="InvalidChangeBatch")
            name = rrset["Name"].lower().rstrip(".")
            if not (name == zone_name or name.endswith("." + zone_name)):
                raise DnsNameInvalidForZone(name=rrset["Name"], zone_name=zone.name)
            k = key(rrset["Name"], rrset["Type"], rrset.get("SetIdentifier"))
            label = f"[name='{k[0]}', type='{k[1]}'" + (f", set-identifier='{k[2]}'" if k[2] else "") + "]"
            if action == "CREATE":
                if k in state:
                    errors.append(f"Tried to create resource record set {label} but it already exists")
                state[k] = requested_values(rrset)
            elif action == "UPSERT":
                state[k] = requested_values(rrset)
            elif k not in state:
                errors.append(f"Tried to delete resource record set {label} but it was not found")
            elif state[k] != requested_values(rrset):
                errors.append(
                    f"Tried to delete resource record set {label} but the values provided do not match the current values"
                )
            else:
                del state[k]
        if errors:
            raise InvalidChangeBatch(errors)

        for change in change_list:
            original_change = copy.deepcopy(change)
            rrset = dict(change["ResourceRecordSet"])
            if not rrset["Name"].endswith("."):
                rrset["Name"] += "."
            k = key(rrset["Name"], rrset["Type"], rrset.get("SetIdentifier"))
            zone.rrsets = [r for r in zone.rrsets if key(r.name, r.type, r.set_identifier) != k]
            if change["Action"] in ("CREATE", "UPSERT"):
                if "ResourceRecords" in rrset:
                    rrset["ResourceRecords"] = [
                        r.get("Value") if isinstance(r, dict) else r for r in rrset["ResourceRecords"] or []
                    ]
                zone.add_rrset(rrset)
            zone.rr_changes.append(original_change)

    m.Route53Backend.change_resource_record_sets = change_resource_record_sets

    # ---- ListHostedZones ---------------------------------------------------------
    # AWS (Route 53 API Reference, ListHostedZones → marker, maxitems; response
    # IsTruncated, NextMarker, Marker, MaxItems): at most maxitems zones per page; when more
    # follow, IsTruncated is true and NextMarker is the ID of the first zone of the next
    # page, to be sent as marker; NextMarker is present only then. Marker and MaxItems echo
    # the request. moto pages, but its NextMarker is an opaque token of its own rather than
    # a zone ID. Zones are listed in creation order. A marker that names no zone is refused
    # with InvalidInput (AWS does not document that case), so a stale marker shows up in a
    # test instead of silently restarting the list.
    def list_hosted_zones(self):
        requested = self._get_int_param("MaxItems")
        marker = self._get_param("Marker") or ""
        zones = list(self.backend.zones.values())
        start = 0
        if marker:
            wanted = marker.rsplit("/", 1)[-1]  # the bare ID, or /hostedzone/ID
            ids = [zone.resource_id for zone in zones]
            if wanted not in ids:
                raise InvalidInput(f"The marker {marker} is not the ID of a hosted zone.")
            start = ids.index(wanted)
        size = paging.limit(requested, LIST_DEFAULT, LIST_MOST)
        shown, truncated = paging.page(zones, start, size)
        result = {
            "HostedZones": shown,
            "Marker": marker,
            "IsTruncated": truncated,
            "MaxItems": str(requested if requested is not None else LIST_DEFAULT),
        }
        if truncated:
            result["NextMarker"] = zones[start + size].resource_id
        return ActionResult(result)

    Route53.list_hosted_zones = list_hosted_zones
