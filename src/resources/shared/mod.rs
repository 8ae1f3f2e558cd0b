//! AWS helpers that several resource kinds share, one module per service, and the reads
//! that one describe call answers for several resources at once.
//!
//! Observing the whole stack is what `plan`, a no-op `up` and `status` cost; reading each
//! thing once (one `DescribeSecurityGroups` for the groups, one `DescribeVpcEndpoints` for
//! the gateway and interface endpoints, one ELBv2 `DescribeTags`
//! for the target group, load balancer and listeners) keeps that cost down.

pub mod cloudwatch;
pub mod ec2;
pub mod elbv2;
pub mod route53;
pub mod s3;
pub mod secrets;

use tokio::sync::OnceCell;

/// What one observation of the stack has read so far. The engine starts a fresh one for
/// every observation ([`super::Context::forget_reads`]), so nothing stale is reused.
#[derive(Default)]
pub struct Reads {
    security_groups: OnceCell<Vec<crate::aws::ec2::SecurityGroup>>,
    vpc_endpoints: OnceCell<Vec<crate::aws::ec2::VpcEndpoint>>,
    elb: OnceCell<elbv2::View>,
}
