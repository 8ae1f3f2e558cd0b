//! What AWS authorizes a logged call as: the test suite's knowledge of IAM, to check a
//! policy against the emulator's request log (tests/iam_policy.rs).
//!
//! Most calls need the action of their own name in the service's IAM prefix. The
//! exceptions, from the Service Authorization Reference of each service:
//! - the prefix differs from the signing name: CloudWatch signs as `monitoring`;
//! - S3 names its actions after what they allow, not after the API (`HeadObject` is
//!   `s3:GetObject`, `ListObjectsV2` is `s3:ListBucket`...);
//! - a create that carries tags is also authorized as the service's tagging action
//!   (modu tags everything it creates), and CloudFront's `CreateDistributionWithTags` is
//!   `CreateDistribution` plus `TagResource`;
//! - `sts:GetCallerIdentity` needs no permission at all.

use serde_json::Value;

use super::Call;

/// The IAM actions AWS checks for `call`, as `prefix:Action`; empty when none.
pub fn actions(call: &Call) -> Vec<String> {
    let prefix = match call.service.as_str() {
        "monitoring" => "cloudwatch",
        "sts" if call.operation == "GetCallerIdentity" => return Vec::new(),
        other => other,
    };
    let op = call.operation.as_str();
    let names: Vec<&str> = match (prefix, op) {
        ("s3", _) => s3_actions(op),
        ("cloudfront", "CreateDistributionWithTags") => vec!["CreateDistribution", "TagResource"],
        _ => {
            let mut names = vec![op];
            names.extend(tagging_on_create(prefix, op));
            names
        }
    };
    names.into_iter().map(|n| format!("{prefix}:{n}")).collect()
}

fn s3_actions(op: &str) -> Vec<&str> {
    match op {
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => vec!["ListBucket"],
        "ListObjectVersions" => vec!["ListBucketVersions"],
        "ListMultipartUploads" => vec!["ListBucketMultipartUploads"],
        "HeadObject" => vec!["GetObject"],
        // modu's CreateBucket carries the bucket's tags.
        "CreateBucket" => vec!["CreateBucket", "TagResource"],
        "GetBucketEncryption" => vec!["GetEncryptionConfiguration"],
        "PutBucketEncryption" => vec!["PutEncryptionConfiguration"],
        "GetPublicAccessBlock" => vec!["GetBucketPublicAccessBlock"],
        "PutPublicAccessBlock" => vec!["PutBucketPublicAccessBlock"],
        "GetBucketLifecycleConfiguration" => vec!["GetLifecycleConfiguration"],
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            vec!["PutLifecycleConfiguration"]
        }
        // One request deletes current objects and old versions alike.
        "DeleteObjects" => vec!["DeleteObject", "DeleteObjectVersion"],
        "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => vec!["PutObject"],
        other => vec![other],
    }
}

/// The tagging action AWS also checks when `op` creates with tags.
fn tagging_on_create(prefix: &str, op: &str) -> Option<&'static str> {
    Some(match (prefix, op) {
        ("ec2", "CreateSecurityGroup" | "CreateLaunchTemplate" | "CreateVpcEndpoint") => {
            "CreateTags"
        }
        (
            "elasticloadbalancing",
            "CreateLoadBalancer" | "CreateTargetGroup" | "CreateListener" | "CreateRule",
        ) => "AddTags",
        ("autoscaling", "CreateAutoScalingGroup") => "CreateOrUpdateTags",
        ("elasticache", "CreateReplicationGroup" | "CreateCacheSubnetGroup") => "AddTagsToResource",
        ("rds", "CreateDBInstance" | "CreateDBSubnetGroup") => "AddTagsToResource",
        ("ssm", "PutParameter") => "AddTagsToResource",
        ("secretsmanager", "CreateSecret") => "TagResource",
        ("logs", "CreateLogGroup") => "TagResource",
        ("iam", "CreateRole") => "TagRole",
        ("iam", "CreateInstanceProfile") => "TagInstanceProfile",
        ("cloudwatch", "PutMetricAlarm") => "TagResource",
        ("sns", "CreateTopic") => "TagResource",
        _ => return None,
    })
}

/// IAM's wildcard match of an action pattern (`*`, `?`), case-insensitive as IAM's is.
pub fn matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

/// A statement's field that IAM takes as a string or a list of strings.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The Allow statements of `policy` whose actions include `action`.
pub fn allowing<'a>(policy: &'a Value, action: &str) -> Vec<&'a Value> {
    policy["Statement"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .filter(|s| strings(&s["Action"]).iter().any(|p| matches(p, action)))
        .collect()
}
