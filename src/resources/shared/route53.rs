//! Route53: zone ids and names in the forms the API answers with, and the account's zones.

use aws_sdk_route53::types::HostedZone;

use crate::aws::errors::AwsContext;
use crate::error::Result;
use crate::resources::Context;

/// `Z123` from `/hostedzone/Z123`.
pub fn short_zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A DNS name in the absolute, lower-case form Route53 answers with.
pub fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.')).to_ascii_lowercase()
}

/// Every hosted zone in the account (for cleaning up after `dns` left the spec).
pub async fn all_zones(cx: &Context) -> Result<Vec<HostedZone>> {
    let pages: Vec<_> = cx
        .clients
        .route53
        .list_hosted_zones()
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut zones = Vec::new();
    for page in pages {
        zones.extend(page.context("listing", "hosted-zone", "all")?.hosted_zones);
    }
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_take_the_api_forms() {
        assert_eq!(short_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(short_zone_id("Z123"), "Z123");
        assert_eq!(absolute("Web.Example.com"), "web.example.com.");
        assert_eq!(absolute("web.example.com."), "web.example.com.");
    }
}
