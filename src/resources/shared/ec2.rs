//! EC2: the stack's security groups, read once for all three.

use crate::aws::ec2::{Filter, SecurityGroup};

use crate::aws::errors::AwsContext;
use crate::error::Result;
use crate::resources::Context;

/// The security groups named `names` in `vpc`, from one `DescribeSecurityGroups` shared by
/// the whole observation.
pub async fn security_groups<'a>(
    cx: &Context,
    reads: &'a super::Reads,
    vpc: &str,
    names: &[String],
) -> Result<&'a [SecurityGroup]> {
    let groups = reads
        .security_groups
        .get_or_try_init(|| async {
            cx.clients
                .ec2
                .describe_security_groups(&[
                    Filter::new("vpc-id", [vpc]),
                    Filter::new("group-name", names.iter().cloned()),
                ])
                .await
                .context("looking up", "security-group", &names.join(","))
        })
        .await?;
    Ok(groups.as_slice())
}
