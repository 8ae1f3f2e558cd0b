"""Corrections to moto so that the emulator answers as AWS documents, one module per
service. The moto version they are written against is pinned in
scripts/requirements-emulator.txt (and checked by scripts/emulator.py at start).

`apply()` monkeypatches moto's backends and response handlers in-process; the launcher
(scripts/emulator.py) calls it once before the server starts. Every correction is small
and its comment names the AWS API reference (action and behaviour) it follows. modu
itself never knows it is talking to an emulator: where moto and AWS differ, the emulator
is corrected, not the product.

- `autoscaling`: target-tracking policies own their two CloudWatch alarms and report
  `Enabled`; deleting a group deletes its policies.
- `ec2`: a block device mapping without a size or a snapshot (the image's root volume,
  re-described: encrypted, gp3) launches instead of failing; a launch template's network
  interface gives its instances their security groups and public-address choice; a
  gateway endpoint's route tables gain and lose its route as they are associated.
- `cloudfront`: distribution ARNs, origins with an origin access control, ETag/IfMatch,
  the disable-before-delete rule, full ListDistributions summaries, real pages.
- `instance_refresh`: StartInstanceRefresh and its siblings, which moto lacks: instances
  replaced within the health percentages, warm-up, checkpoints, skip matching, rollback.
- `elasticache`: replication groups (cluster mode disabled) with their member clusters,
  modification and replica counts, subnet groups, tags.
- `elbv2`: CreateListener is idempotent (a retry returns the listener the first attempt
  made) and a port has one listener.
- `iam`: removing a role an instance profile does not hold is NoSuchEntity.
- `rds`: the managed master password's secret holds the master username and a generated
  password.
- `secretsmanager`: moving `AWSCURRENT` to another version makes it the one GetSecretValue
  answers.
- `route53`: ChangeResourceRecordSets validated as one batch, record-set shapes, real
  ListHostedZones pages.
- `sns`: email subscriptions stay pending until confirmed (`PendingConfirmation`, not
  deletable), as AWS keeps them until the recipient follows its email's link.
- `s3`: bucket policies decide by their conditions (a TLS-only Deny refuses no request
  made over the emulator's stand-in for S3's HTTPS endpoint).
- `paging`: the page sizes of those two lists, and the forced small page of the tests.

CloudWatch metric-math alarms and their tags already behave as AWS in moto and are not
patched (scripts/tests/test_cloudwatch.py guards them). Known and left alone: moto keys
scaling policies by name across all groups (AWS: per group) and gives every policy the
same ARN.
"""

from __future__ import annotations

import os

from . import (
    autoscaling,
    cloudfront,
    ec2,
    elasticache,
    elbv2,
    iam,
    instance_refresh,
    paging,
    rds,
    route53,
    s3,
    secretsmanager,
    sns,
)

_applied = False


def apply(page_size: int | None = None) -> None:
    """Install every correction (idempotent). `page_size` forces at most that many items
    per page of the paged lists (see `paging`)."""
    global _applied
    if page_size is not None and page_size < 1:
        raise ValueError(f"page size {page_size} is not a positive number")
    paging.forced = page_size
    if _applied:
        return
    _applied = True
    # Every AWS account has AWS's managed policies (modu attaches AmazonSSMManagedInstanceCore
    # to its instance role); moto creates them only when asked to.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    autoscaling.apply()
    instance_refresh.apply()
    cloudfront.apply()
    ec2.apply()
    elasticache.apply()
    elbv2.apply()
    iam.apply()
    rds.apply()
    s3.apply()
    sns.apply()
    route53.apply()
    secretsmanager.apply()
