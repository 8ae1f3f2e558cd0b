//! EC2: the stack's security groups, read once for all three.

use aws_sdk_ec2::types::{Filter, SecurityGroup};

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
            let out = cx
                .clients
                .ec2
                .describe_security_groups()
                .filters(Filter::builder().name("vpc-id").values(vpc).build())
                .filters(
                    Filter::builder()
                        .name("group-name")
                        .set_values(Some(names.to_vec()))
                        .build(),
                )
                .send()
                .await
                .context("looking up", "security-group", &names.join(","))?;
            Ok::<_, crate::Error>(out.security_groups.unwrap_or_default())
        })
        .await?;
    Ok(groups.as_slice())
}
