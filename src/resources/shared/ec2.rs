//! EC2: the stack's security groups, read once for all of them, and the VPC endpoints of
//! the services the stack makes endpoints for, read once for the gateway and interface
//! endpoints.

use crate::aws::ec2::{Filter, SecurityGroup, VpcEndpoint};

use crate::aws::errors::{Absent, AwsContext};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::resources::{Context, Resource};
use crate::spec::EndpointService;

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

/// States of an endpoint that is gone or going: it serves nothing and is nobody's to change.
const ENDED: &[&str] = &["deleting", "deleted", "failed", "rejected", "expired"];

/// The S3 service name in `region`, as gateway endpoints and prefix lists name it.
pub fn s3_service(region: &str) -> String {
    format!("com.amazonaws.{region}.s3")
}

/// The region's live VPC endpoints (any VPC, anyone's) of S3 and of the services modu
/// makes interface endpoints for, from one `DescribeVpcEndpoints` shared by the whole
/// observation. The stack's are told apart by their tags; the others matter only where
/// they already serve the stack's route tables.
pub async fn vpc_endpoints<'a>(cx: &Context, reads: &'a super::Reads) -> Result<&'a [VpcEndpoint]> {
    let region = &cx.spec.region;
    let services: Vec<String> = std::iter::once(s3_service(region))
        .chain(EndpointService::ALL.iter().map(|s| s.service_name(region)))
        .collect();
    let endpoints = reads
        .vpc_endpoints
        .get_or_try_init(|| async {
            let all = cx
                .clients
                .ec2
                .describe_vpc_endpoints(
                    &[],
                    &[Filter::new("service-name", services.iter().cloned())],
                )
                .await
                .context("looking up", "vpc-endpoints of", &services.join(","))?;
            Ok::<_, crate::error::Error>(
                all.into_iter()
                    .filter(|e| !ENDED.contains(&e.state.as_str()))
                    .collect(),
            )
        })
        .await?;
    Ok(endpoints.as_slice())
}

/// Whether an endpoint is ended (see [`vpc_endpoints`]), for waits.
pub fn ended(state: &str) -> bool {
    ENDED.contains(&state)
}

/// The VPC endpoint `id` as AWS has it now (not from the shared read: waits poll it), or
/// `None` once it is gone.
pub async fn vpc_endpoint(cx: &Context, id: &str) -> Result<Option<VpcEndpoint>> {
    let found = cx
        .clients
        .ec2
        .describe_vpc_endpoints(&[id], &[])
        .await
        .or_absent(ENDPOINT_NOT_FOUND, "looking up", "vpc-endpoint", id)?;
    Ok(found
        .and_then(|endpoints| endpoints.into_iter().next())
        .filter(|e| e.state != "deleted"))
}

/// The codes EC2 gives for an endpoint id it does not know.
const ENDPOINT_NOT_FOUND: &[&str] = &[
    "InvalidVpcEndpointId.NotFound",
    "InvalidVpcEndpoint.NotFound",
];

/// Waits until the endpoint `id` is `available`; a failed one is an error.
pub async fn wait_endpoint_available(
    cx: &Context,
    resource: &dyn Resource,
    id: &str,
) -> Result<()> {
    cx.wait_for(resource, "to become available", || async move {
        match vpc_endpoint(cx, id).await? {
            Some(e) if e.state == "available" => Ok(Poll::Ready(())),
            Some(e) if ended(&e.state) => Err(Error::fixable(
                format!("VPC endpoint {id} is {}", e.state),
                "see its state message with `aws ec2 describe-vpc-endpoints`, then run `modu up` again",
            )),
            Some(e) => Ok(Poll::Pending(e.state)),
            None => Ok(Poll::Pending("not visible yet".into())),
        }
    })
    .await
}

/// Deletes the endpoints `ids` and waits until they are gone; one already gone is success.
pub async fn delete_vpc_endpoints(
    cx: &Context,
    resource: &dyn Resource,
    ids: &[&str],
) -> Result<()> {
    let failed = cx.clients.ec2.delete_vpc_endpoints(ids).await.context(
        "deleting",
        "vpc-endpoints",
        &ids.join(","),
    )?;
    if let Some((id, code)) = failed
        .iter()
        .find(|(_, code)| !ENDPOINT_NOT_FOUND.contains(&code.as_str()))
    {
        return Err(Error::Aws {
            action: "deleting",
            kind: "vpc-endpoint",
            name: id.clone(),
            message: format!("AWS could not delete it: {code}"),
            code: Some(code.clone()),
            help: None,
        });
    }
    for id in ids {
        cx.wait_gone(resource, || async move {
            Ok(vpc_endpoint(cx, id).await?.map(|e| e.state))
        })
        .await?;
    }
    Ok(())
}
