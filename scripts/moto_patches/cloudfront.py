"""CloudFront: distribution ARNs, origins with an origin access control, one origin access
control per name, ETag/IfMatch, the disable-before-delete rule, viewer certificates that must cover the aliases, and
ListDistributions (full summaries, real pages)."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from . import paging
from .errors import service_module

# AWS (CloudFront API Reference, ListDistributions → MaxItems): the default and the most
# per page are both 100.
LIST_DEFAULT = LIST_MOST = 100


def certificate_names(account_id: str, arn: str) -> list[str] | None:
    """The names an issued ACM certificate of us-east-1 covers, or None when there is none."""
    if ":us-east-1:" not in arn:
        return None
    return issued_names(account_id, arn)


def issued_names(account_id: str, arn: str) -> list[str] | None:
    """The names an issued ACM certificate (of the region in its ARN) covers, or None when
    there is none."""
    from moto.acm.models import acm_backends

    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "acm":
        return None
    bundle = acm_backends[account_id][parts[3]]._certificates.get(arn)
    if bundle is None:
        return None
    bundle.check()
    if bundle.status != "ISSUED":
        return None
    described = bundle.describe()["Certificate"]
    names = [described["DomainName"], *described.get("SubjectAlternativeNames", [])]
    return sorted({n.rstrip(".").lower() for n in names})


def covers(names: list[str], host: str) -> bool:
    """Whether a certificate for `names` is valid for `host` (a wildcard stands for one label)."""
    host = host.rstrip(".").lower()
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def apply() -> None:
    from moto.cloudfront import models as m
    from moto.cloudfront.exceptions import CloudFrontException, InvalidIfMatchVersion, NoSuchDistribution
    from moto.cloudfront.responses import CloudFrontResponse
    from moto.core.responses import ActionResult

    class PreconditionFailed(CloudFrontException):
        __module__ = service_module("cloudfront")

        def __init__(self) -> None:
            super().__init__(
                "PreconditionFailed",
                "The precondition given in one or more of the request-header fields evaluated to false.",
            )

    class DistributionNotDisabled(CloudFrontException):
        __module__ = service_module("cloudfront")

        def __init__(self) -> None:
            super().__init__(
                "DistributionNotDisabled",
                "The distribution you are trying to delete has not been disabled.",
            )

    class InvalidViewerCertificate(CloudFrontException):
        __module__ = service_module("cloudfront")

        def __init__(self, message: str) -> None:
            super().__init__("InvalidViewerCertificate", message)

    # ---- viewer certificates ---------------------------------------------------
    # AWS (CloudFront Developer Guide, "Requirements for using alternate domain names" and
    # "Requirements for using SSL/TLS certificates with CloudFront"; CreateDistribution /
    # UpdateDistribution → InvalidViewerCertificate): an alias needs a trusted certificate
    # attached; an ACM certificate must be an issued one in us-east-1 of the account; it must
    # cover every alias by its domain name or a subject alternative name (a wildcard covers
    # one label). moto accepts any ARN and any alias.
    def check_viewer_certificate(account_id: str, config: dict) -> None:
        parsed = m.DistributionConfig(copy.deepcopy(config))  # it converts the dict in place
        aliases = [str(a).rstrip(".").lower() for a in (parsed.Aliases.get("Items") or [])]
        arn = parsed.ViewerCertificate.acm_certificate_arn
        if not arn:
            if aliases and not parsed.ViewerCertificate.iam_certificate_id:
                raise InvalidViewerCertificate(
                    "To add an alternate domain name (CNAME) to a CloudFront distribution, you must attach "
                    "a trusted certificate that validates your authorization to use the domain name."
                )
            return
        names = certificate_names(account_id, arn)
        if names is None:
            raise InvalidViewerCertificate(
                "The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, "
                "or doesn't include a valid certificate chain."
            )
        for alias in aliases:
            if not covers(names, alias):
                raise InvalidViewerCertificate(
                    "The certificate that is attached to your distribution doesn't cover the alternate "
                    f"domain name (CNAME) that you're trying to add: {alias}."
                )

    original_create = m.CloudFrontBackend.create_distribution_with_tags

    def create_distribution_with_tags(self, distribution_config, tags):
        check_viewer_certificate(self.account_id, distribution_config)
        return original_create(self, distribution_config, tags)

    m.CloudFrontBackend.create_distribution_with_tags = create_distribution_with_tags

    # ---- ARNs ---------------------------------------------------------------
    # AWS (CloudFront API Reference, Distribution → ARN): CloudFront is global, so a
    # distribution ARN has an empty region field
    # (arn:aws:cloudfront::<account>:distribution/<id>); moto leaves the field out.
    original_distribution_init = m.Distribution.__init__

    def distribution_init(self, account_id, region_name, config):
        original_distribution_init(self, account_id, region_name, config)
        self.arn = self.arn.replace(":cloudfront:", ":cloudfront::", 1)

    m.Distribution.__init__ = distribution_init

    # ---- origins -----------------------------------------------------------
    # AWS (CloudFront API Reference, Origin → OriginAccessControlId, S3OriginConfig;
    # GetDistributionConfig): an origin keeps its OriginAccessControlId (empty string when none)
    # and its S3OriginConfig (OriginAccessIdentity may be empty when an OAC is
    # used). moto drops both.
    original_origin_init = m.Origin.__init__

    def origin_init(self, origin):
        s3 = origin.get("S3OriginConfig", "absent")
        if s3 != "absent" and not isinstance(s3, dict):
            origin["S3OriginConfig"] = s3 = {}
        if isinstance(s3, dict):
            s3["OriginAccessIdentity"] = s3.get("OriginAccessIdentity") or ""
        original_origin_init(self, origin)
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""
        if isinstance(s3, dict):
            self.s3_origin_config = {"OriginAccessIdentity": s3["OriginAccessIdentity"]}
            if s3.get("OriginReadTimeout") is not None:
                self.s3_origin_config["OriginReadTimeout"] = s3["OriginReadTimeout"]

    m.Origin.__init__ = origin_init

    # ---- origin access controls: one per name ------------------------------
    # AWS (CloudFront API Reference, CreateOriginAccessControl → Errors):
    # OriginAccessControlAlreadyExists (409) when an origin access control by that name
    # exists. moto made a second one, so a retried create (its first reply lost) left two
    # by one name.
    class OriginAccessControlAlreadyExists(CloudFrontException):
        __module__ = service_module("cloudfront")

        def __init__(self, name: str) -> None:
            super().__init__(
                "OriginAccessControlAlreadyExists",
                f"An origin access control with the name {name} already exists.",
            )

    original_create_oac = m.CloudFrontBackend.create_origin_access_control

    def create_origin_access_control(self, config_dict):
        name = config_dict.get("Name")
        if any(c.name == name for c in self.origin_access_controls.values()):
            raise OriginAccessControlAlreadyExists(name)
        return original_create_oac(self, config_dict)

    m.CloudFrontBackend.create_origin_access_control = create_origin_access_control

    # AWS (CloudFront API Reference, DeleteOriginAccessControl → Errors): deleting an origin
    # access control that does not exist is NoSuchOriginAccessControl (404). moto raised a
    # KeyError, a 500 the SDKs retry as transient: a delete retried after a lost reply spent
    # all its attempts, most of a minute, on an answer AWS gives at once.
    from moto.cloudfront.exceptions import NoSuchOriginAccessControl

    original_delete_oac = m.CloudFrontBackend.delete_origin_access_control

    def delete_origin_access_control(self, control_id):
        if control_id not in self.origin_access_controls:
            raise NoSuchOriginAccessControl()
        return original_delete_oac(self, control_id)

    m.CloudFrontBackend.delete_origin_access_control = delete_origin_access_control

    # ---- ETag / IfMatch / status on update ---------------------------------
    # AWS (CloudFront API Reference, UpdateDistribution → IfMatch, ETag; Distribution →
    # Status): UpdateDistribution needs the current ETag as IfMatch
    # (PreconditionFailed otherwise), issues a new ETag, and puts the
    # distribution `InProgress` until it is deployed again (emulated: the
    # next read). moto ignores IfMatch, keeps the ETag and stays `Deployed`.
    original_update = m.CloudFrontBackend.update_distribution

    def update_distribution(self, dist_config, _id, if_match):
        dist = self.distributions.get(_id)
        if dist is not None and if_match and if_match != dist.etag:
            raise PreconditionFailed()
        if dist_config:
            check_viewer_certificate(self.account_id, dist_config)
        dist, location, _ = original_update(self, dist_config, _id, if_match)
        dist.etag = m.random_id()
        dist.status = "InProgress"
        dist._tick = 0
        dist.last_modified_time = datetime.now(timezone.utc)
        return dist, location, dist.etag

    m.CloudFrontBackend.update_distribution = update_distribution

    # ---- delete needs a disabled, deployed distribution ------------------
    # AWS (CloudFront API Reference, DeleteDistribution: disable it, wait until it is
    # Deployed, then delete it with its ETag; errors PreconditionFailed,
    # DistributionNotDisabled): DeleteDistribution needs the current ETag (PreconditionFailed) and
    # a distribution that is disabled and deployed (DistributionNotDisabled).
    # moto deletes whatever it is given.
    original_delete = m.CloudFrontBackend.delete_distribution

    def delete_distribution(self, distribution_id, if_match):
        if not if_match:
            raise InvalidIfMatchVersion()
        dist = self.distributions.get(distribution_id)
        if dist is None:
            raise NoSuchDistribution()
        if if_match != dist.etag:
            raise PreconditionFailed()
        enabled = getattr(dist.distribution_config, "Enabled", False)
        if str(enabled).lower() == "true" or dist.status != "Deployed":
            raise DistributionNotDisabled()
        original_delete(self, distribution_id, if_match)
        self.tagger.delete_all_tags_for_resource(dist.arn)

    m.CloudFrontBackend.delete_distribution = delete_distribution

    # ---- ListDistributions: summaries --------------------------------------
    # AWS (CloudFront API Reference, ListDistributions → DistributionSummary): each
    # summary carries the distribution's ETag, Origins, Aliases, DefaultCacheBehavior,
    # Comment, Enabled, ... . moto returns only Id/ARN/Status/DomainName.
    summary_fields = (
        "Aliases",
        "Origins",
        "OriginGroups",
        "DefaultCacheBehavior",
        "CacheBehaviors",
        "CustomErrorResponses",
        "Comment",
        "PriceClass",
        "Enabled",
        "ViewerCertificate",
        "Restrictions",
        "WebACLId",
        "HttpVersion",
        "IsIPV6Enabled",
    )

    def summary(dist):
        config = dist.distribution_config
        item = {
            "Id": dist.distribution_id,
            "ARN": dist.arn,
            "ETag": dist.etag,
            "Status": dist.status,
            "LastModifiedTime": dist.last_modified_time,
            "DomainName": dist.domain_name,
            "AliasICPRecordals": dist.alias_icp_recordals,
            "Staging": False,
        }
        for field in summary_fields:
            item[field] = getattr(config, field, None)
        return item

    # ---- ListDistributions: pages ----------------------------------------------
    # AWS (CloudFront API Reference, ListDistributions → Marker, MaxItems;
    # DistributionList → IsTruncated, NextMarker): at most MaxItems distributions per
    # page; when more follow, IsTruncated is true and NextMarker is the ID of the last
    # distribution on the page; a request with Marker lists the distributions after that
    # one. The answer echoes Marker and MaxItems. moto answers everything in one page and
    # ignores both. Distributions are listed in creation order. AWS documents no answer to
    # a Marker that names no distribution; the emulator refuses it (InvalidArgument) so a
    # stale marker shows up in a test instead of silently restarting the list.
    def list_distributions(self):
        requested = self._get_int_param("MaxItems")
        marker = self._get_param("Marker") or ""
        distributions = self.backend.list_distributions()
        start = 0
        if marker:
            ids = [d.distribution_id for d in distributions]
            if marker not in ids:
                raise CloudFrontException("InvalidArgument", f"The marker {marker} is not a distribution ID.")
            start = ids.index(marker) + 1
        size = paging.limit(requested, LIST_DEFAULT, LIST_MOST)
        shown, truncated = paging.page(distributions, start, size)
        listing = {
            "Marker": marker,
            "MaxItems": requested if requested is not None else LIST_DEFAULT,
            "IsTruncated": truncated,
            "Quantity": len(shown),
            "Items": [summary(d) for d in shown] or None,
        }
        if truncated:
            listing["NextMarker"] = shown[-1].distribution_id
        return ActionResult({"DistributionList": listing})

    CloudFrontResponse.list_distributions = list_distributions
